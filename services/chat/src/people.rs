//! Display names for messages and presence, from user-couple (a couple's members, cached).
//! A name is a nicety: when user-couple cannot answer, messages go out without one.

use uuid::Uuid;

/// Nicknames of couple members.
#[derive(Debug, Default)]
pub struct People {}

impl People {
    /// The display name of `user_id` in `couple_id`, if user-couple knows it.
    pub async fn nickname(&self, _couple_id: Uuid, _user_id: Uuid) -> Option<String> {
        None
    }
}
