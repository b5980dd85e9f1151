//! Where a user's current token version is shared: user-couple writes it when a session is
//! revoked (logout, password change, deletion, break-up), the gateway reads it on every request.

use uuid::Uuid;

/// The key-value key (before the deployment's prefix) holding a user's token version.
pub fn version_key(user_id: Uuid) -> String {
    format!("tv:{user_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_names_the_user() {
        let user = Uuid::nil();
        assert_eq!(version_key(user), "tv:00000000-0000-0000-0000-000000000000");
    }
}
