//! `couple-operator run|crd`.

use clap::{Parser, Subcommand};

/// The couple operator.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the CoupleApp CustomResourceDefinition as YAML.
    Crd,
}

fn main() {
    match Cli::parse().command {
        Command::Crd => print!("{}", couple_operator::crd_yaml()),
    }
}
