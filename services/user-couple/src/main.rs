//! `user-couple [serve|migrate|admin grant|revoke <email>]`: configuration comes from `USER_COUPLE_*` and `COUPLE_*`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    couple_common::kit::main::<user_couple::UserCouple>().await
}
