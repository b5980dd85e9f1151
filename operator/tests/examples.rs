//! The example CoupleApps under `examples/` parse and pass validation, so they stay correct as
//! the CRD evolves.

use couple_operator::{crd::CoupleApp, validate::validate};

#[test]
fn every_example_is_a_valid_coupleapp() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let app: CoupleApp = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if let Err(problems) = validate(&app.metadata.name.clone().unwrap_or_default(), &app.spec) {
            panic!("{}: {problems:?}", path.display());
        }
        seen += 1;
    }
    assert!(seen >= 3, "expected the minimal, external and production examples, found {seen}");
}
