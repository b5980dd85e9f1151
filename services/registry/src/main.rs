//! `couple-registry [json|table]`: the service registry for scripts. `json` (the default) prints
//! every binary's entry; `table` prints `name<TAB>port<TAB>env_prefix` lines, services first and
//! the gateway last.

fn main() {
    match std::env::args().nth(1).as_deref() {
        None | Some("json") => println!("{}", couple_registry::to_json()),
        Some("table") => print!("{}", couple_registry::to_table()),
        Some(other) => {
            eprintln!("couple-registry: unknown format `{other}` (json or table)");
            std::process::exit(2);
        }
    }
}
