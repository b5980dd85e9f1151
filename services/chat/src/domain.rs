//! Values that parse: room names, message texts and the client's idempotency key.

/// A room's name: 1 to 100 characters once trimmed, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomName(String);

impl RoomName {
    /// The longest name, in characters.
    pub const MAX_CHARS: usize = 100;

    /// Parses a name, trimmed.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let name = raw.trim();
        if name.is_empty() {
            return Err("must not be empty".into());
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(format!("must be at most {} characters", Self::MAX_CHARS));
        }
        if name.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A message's text: not blank, at most the configured number of characters. Kept as sent
/// (line breaks included); only NUL and other control characters but tab and line breaks are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageText(String);

impl MessageText {
    /// Parses a text of at most `max_chars` characters.
    pub fn parse(raw: &str, max_chars: usize) -> Result<Self, String> {
        if raw.trim().is_empty() {
            return Err("must not be empty".into());
        }
        if raw.chars().count() > max_chars {
            return Err(format!("must be at most {max_chars} characters"));
        }
        if raw.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
            return Err("must not contain control characters".into());
        }
        Ok(Self(raw.to_owned()))
    }

    /// The text.
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// The sender's idempotency key for a message: 1 to 64 of `A-Z a-z 0-9 - _ . :`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientId(String);

impl ClientId {
    /// The longest key.
    pub const MAX_LEN: usize = 64;

    /// Parses a key.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() || raw.len() > Self::MAX_LEN {
            return Err(format!("must be 1 to {} characters", Self::MAX_LEN));
        }
        if !raw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':')) {
            return Err("may hold only letters, digits, '-', '_', '.' and ':'".into());
        }
        Ok(Self(raw.to_owned()))
    }

    /// The key.
    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names_are_trimmed_and_bounded() {
        assert_eq!(RoomName::parse("  우리 방 ").unwrap().as_str(), "우리 방");
        assert!(RoomName::parse("   ").is_err());
        assert!(RoomName::parse(&"가".repeat(101)).is_err());
        assert!(RoomName::parse(&"가".repeat(100)).is_ok());
        assert!(RoomName::parse("a\u{7}b").is_err());
    }

    #[test]
    fn message_texts_keep_line_breaks_and_refuse_blank_or_long_ones() {
        assert_eq!(MessageText::parse("안녕\n잘 자", 10).unwrap().into_inner(), "안녕\n잘 자");
        assert!(MessageText::parse(" \n ", 10).is_err());
        assert!(MessageText::parse(&"a".repeat(11), 10).is_err());
        assert!(MessageText::parse("a\0b", 10).is_err());
    }

    #[test]
    fn client_ids_are_short_tokens() {
        assert!(ClientId::parse("c-1_2.3:4").is_ok());
        assert!(ClientId::parse("").is_err());
        assert!(ClientId::parse(&"a".repeat(65)).is_err());
        assert!(ClientId::parse("a b").is_err());
    }
}
