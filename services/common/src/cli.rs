//! The command line every service binary accepts.

use clap::{Parser, Subcommand};

/// `<service> [serve|migrate|<its own subcommand>...]`; configuration comes from the environment.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What a service binary can do.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply the database migrations and exit; the operator runs this as a Job before a rollout.
    Migrate,
    /// Any other subcommand, with its arguments (`admin grant a@b.c`): the service's own,
    /// handed to `ServiceMain::command`, which parses it.
    #[command(external_subcommand)]
    Other(Vec<String>),
}

impl Cli {
    /// The chosen command, `serve` by default.
    pub fn command(&self) -> Command {
        self.command.clone().unwrap_or(Command::Serve)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Command {
        Cli::try_parse_from(args).unwrap().command()
    }

    #[test]
    fn the_kit_knows_serve_and_migrate_and_hands_anything_else_to_the_service() {
        assert_eq!(parse(&["svc"]), Command::Serve);
        assert_eq!(parse(&["svc", "serve"]), Command::Serve);
        assert_eq!(parse(&["svc", "migrate"]), Command::Migrate);
        assert_eq!(parse(&["svc", "admin", "grant", "a@b.c"]), Command::Other(vec!["admin".into(), "grant".into(), "a@b.c".into()]));
        assert!(Cli::try_parse_from(["svc", "migrate", "extra"]).is_err(), "the kit's own commands take no arguments");
    }
}
