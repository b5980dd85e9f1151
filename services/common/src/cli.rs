//! The command line every service binary accepts.

use clap::{Parser, Subcommand};

/// `<service> [serve|migrate]`; configuration comes from the environment.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What a service binary can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply the database migrations and exit; the operator runs this as a Job before a rollout.
    Migrate,
}

impl Cli {
    /// The chosen command, `serve` by default.
    pub fn command(&self) -> Command {
        self.command.unwrap_or(Command::Serve)
    }
}
