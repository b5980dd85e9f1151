//! `gateway [serve|migrate]`: configuration comes from `COUPLE_*` and `GATEWAY_*`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    couple_common::kit::main::<gateway::Gateway>().await
}
