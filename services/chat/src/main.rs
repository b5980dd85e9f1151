//! `chat [serve|migrate]`: configuration comes from `CHAT_*` and `COUPLE_*`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    couple_common::kit::main::<chat::Chat>().await
}
