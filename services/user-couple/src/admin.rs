//! Who is an administrator. The role is granted and revoked only by an operator: with
//! `user-couple admin grant|revoke <email>` against the configured database, or for the accounts
//! listed in `USER_COUPLE_ADMIN_EMAILS` (made admin at start and at sign-up). There is no
//! endpoint for it.

use std::sync::Arc;

use chrono::Utc;
use clap::{Parser, Subcommand};
use couple_common::{Role, kv::Kv, revocation::version_key, shutdown::Shutdown};
use uuid::Uuid;

use crate::{domain::Email, error::Result, store::Store};

/// What setting a role did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleChange {
    /// The role changed; tokens issued before carry the old role and are revoked.
    Changed {
        /// The account.
        user_id: Uuid,
        /// Its new token version.
        token_version: i64,
    },
    /// The account had that role already; nothing changed.
    Unchanged {
        /// The account.
        user_id: Uuid,
    },
    /// No account has that email.
    UnknownEmail,
}

/// Gives the account with `email_key` (lower-cased) `role`. A change bumps the token version and
/// drops the shared copy of it, so the gateway asks this service again and refuses the
/// outstanding tokens; a login or refresh then issues tokens carrying the new role.
pub async fn set_role(store: &dyn Store, kv: &dyn Kv, email_key: &str, role: Role) -> Result<RoleChange> {
    let Some(user) = store.user_by_email(email_key).await? else { return Ok(RoleChange::UnknownEmail) };
    if Role::parse(&user.role) == role {
        return Ok(RoleChange::Unchanged { user_id: user.id });
    }
    let Some(token_version) = store.set_role(user.id, role.as_str(), Utc::now()).await? else {
        // Deleted in between.
        return Ok(RoleChange::UnknownEmail);
    };
    kv.del(&version_key(user.id)).await?;
    Ok(RoleChange::Changed { user_id: user.id, token_version })
}

/// Makes the configured administrators' existing accounts admin (at start, after migrations);
/// the others become admin when they sign up. When the database or Redis is down, this is
/// retried in the background (with backoff, until `shutdown`) so the service still starts.
pub async fn grant_configured(store: Arc<dyn Store>, kv: Arc<dyn Kv>, email_keys: Vec<String>, shutdown: Shutdown) {
    let email_keys = Arc::new(email_keys);
    couple_common::shutdown::now_or_in_background("applying USER_COUPLE_ADMIN_EMAILS", shutdown, move || {
        let (store, kv, email_keys) = (store.clone(), kv.clone(), email_keys.clone());
        async move { grant_all(store.as_ref(), kv.as_ref(), &email_keys).await }
    })
    .await;
}

async fn grant_all(store: &dyn Store, kv: &dyn Kv, email_keys: &[String]) -> Result<()> {
    for email in email_keys {
        match set_role(store, kv, email, Role::Admin).await? {
            RoleChange::Changed { user_id, .. } => tracing::info!(%user_id, "made admin by USER_COUPLE_ADMIN_EMAILS"),
            RoleChange::Unchanged { .. } => {}
            RoleChange::UnknownEmail => {
                tracing::info!("an address in USER_COUPLE_ADMIN_EMAILS has no account yet; it becomes admin at sign-up")
            }
        }
    }
    Ok(())
}

/// `user-couple admin grant|revoke <email>`, parsed by clap.
#[derive(Debug, Parser)]
#[command(name = "user-couple", about = "User-couple's own commands (besides serve and migrate)")]
struct Cli {
    #[command(subcommand)]
    command: CliCommand,
}

#[derive(Debug, Subcommand)]
enum CliCommand {
    /// Grant or revoke the admin role.
    Admin {
        #[command(subcommand)]
        action: CliAction,
    },
}

#[derive(Debug, Subcommand)]
enum CliAction {
    /// Give the account with this email the admin role.
    Grant { email: String },
    /// Take the admin role from the account with this email.
    Revoke { email: String },
}

/// A parsed `admin` command: the role to set and the account's email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminCommand {
    /// The role the account gets.
    pub role: Role,
    /// The account's email.
    pub email: Email,
}

/// Parses the arguments after the binary's name (`["admin", "grant", "a@b.c"]`); `Ok(None)`
/// when they asked for help, which is printed.
pub fn parse(args: &[String]) -> anyhow::Result<Option<AdminCommand>> {
    let cli = match Cli::try_parse_from(std::iter::once("user-couple").chain(args.iter().map(String::as_str))) {
        Ok(cli) => cli,
        Err(err) if !err.use_stderr() => {
            print!("{}", err.render());
            return Ok(None);
        }
        Err(err) => anyhow::bail!("{}", err.render().to_string().trim_end()),
    };
    let CliCommand::Admin { action } = cli.command;
    let (role, email) = match action {
        CliAction::Grant { email } => (Role::Admin, email),
        CliAction::Revoke { email } => (Role::User, email),
    };
    let email = Email::parse(&email).map_err(|problem| anyhow::anyhow!("`{email}` {problem}"))?;
    Ok(Some(AdminCommand { role, email }))
}

/// Runs a parsed command against `store` and says what it did, or fails for an unknown email.
pub async fn run(store: &dyn Store, kv: &dyn Kv, command: &AdminCommand) -> anyhow::Result<String> {
    let email = command.email.as_str();
    let role = command.role.as_str();
    match set_role(store, kv, &command.email.key(), command.role).await? {
        RoleChange::Changed { user_id, .. } => {
            Ok(format!("{email} (user {user_id}) is now {role}; their outstanding access tokens are revoked"))
        }
        RoleChange::Unchanged { user_id } => Ok(format!("{email} (user {user_id}) is {role} already; nothing changed")),
        RoleChange::UnknownEmail => anyhow::bail!("no account has the email {email}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn grant_and_revoke_parse_to_a_role_and_a_valid_email() {
        let grant = parse(&args("admin grant Mina@Example.com")).unwrap().unwrap();
        assert_eq!((grant.role, grant.email.key()), (Role::Admin, "mina@example.com".to_owned()));
        assert_eq!(parse(&args("admin revoke a@b.co")).unwrap().unwrap().role, Role::User);
        assert_eq!(parse(&args("admin grant nope")).unwrap_err().to_string(), "`nope` is not an email address");
        assert!(parse(&args("admin grant")).unwrap_err().to_string().contains("<EMAIL>"), "clap names the missing argument");
        assert!(parse(&args("admin promote a@b.co")).is_err());
        assert!(parse(&args("reindex")).unwrap_err().to_string().contains("reindex"));
        assert_eq!(parse(&args("admin --help")).unwrap(), None);
    }
}
