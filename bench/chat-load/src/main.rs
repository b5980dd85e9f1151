//! `chat-load`: the chat benchmark's load client (`make bench-chat`, scripts/bench-chat.sh).
//!
//! `chat-load accounts` signs up and pairs couples through the gateway once, and writes their
//! tokens; `chat-load run` opens N sockets in N/2 rooms (the two partners of each room), sends
//! at a fixed rate per socket and measures each message from its send to the partner's receipt.
//! Everything server-specific (URL, identity, frame, the field echoed back, how rooms come to be)
//! is an option, so the same client measures our chat and the original Django Channels one.

mod load;
mod report;
mod rooms;

use clap::Parser;

#[derive(Parser)]
#[command(name = "chat-load", about = "Load client for the chat benchmark")]
enum Cli {
    /// Sign up and pair couples through the gateway; writes `[[tokenA, tokenB], ...]`.
    Accounts(rooms::AccountsArgs),
    /// Open the sockets, send at a fixed rate, report latency from send to the partner's receipt.
    Run(load::RunArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // 1,000 sockets need more than the usual soft limit of 1,024 descriptors.
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("chat-load: could not raise the open-file limit: {e}");
    }
    match Cli::parse() {
        Cli::Accounts(args) => rooms::accounts(args).await,
        Cli::Run(args) => load::run(args).await,
    }
}
