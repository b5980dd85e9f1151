//! Parsed, valid values: once a request becomes these types, the rest of the service can trust it.

use chrono::{Datelike, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An email address, kept as typed; compared and unique by its lower-cased form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Accepts `local@domain.tld` of at most 254 characters, without spaces.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let email = raw.trim();
        let Some((local, domain)) = email.rsplit_once('@') else { return Err("is not an email address") };
        let valid = email.len() <= 254
            && !local.is_empty()
            && local.len() <= 64
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && email.chars().all(|c| !c.is_whitespace() && !c.is_control())
            && domain.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        if valid { Ok(Self(email.to_owned())) } else { Err("is not an email address") }
    }

    /// As typed (trimmed).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form uniqueness and lookups use.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A password of 8 to 128 characters. Never printed.
#[derive(Clone)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

impl Password {
    /// Checks the length in characters.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        match raw.chars().count() {
            0..8 => Err("must be at least 8 characters"),
            8..=128 => Ok(Self(raw.to_owned())),
            _ => Err("must be at most 128 characters"),
        }
    }

    /// The secret itself, for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A display name (a person's or a couple's): 1 to 50 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    /// Trims and checks the length.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let name = raw.trim();
        if name.is_empty() {
            return Err("must not be empty");
        }
        if name.chars().count() > 50 {
            return Err("must be at most 50 characters");
        }
        if name.chars().any(char::is_control) {
            return Err("must not contain control characters");
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// `M` or `F`, as the original API had it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Gender {
    /// Male.
    M,
    /// Female.
    F,
}

impl Gender {
    /// Parses `M` or `F`.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        match raw {
            "M" => Ok(Self::M),
            "F" => Ok(Self::F),
            _ => Err("must be M or F"),
        }
    }

    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::M => "M",
            Self::F => "F",
        }
    }
}

/// Today's date, the reference for dates in the past or future.
pub fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// A birth date: in the past, and not before 1900.
pub fn parse_birth(raw: &str, today: NaiveDate) -> Result<NaiveDate, &'static str> {
    let date = NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| "must be a date (YYYY-MM-DD)")?;
    if date >= today {
        return Err("must be in the past");
    }
    if date.year() < 1900 {
        return Err("must be after 1900");
    }
    Ok(date)
}

/// A couple's start date: not in the future, and not before 1900.
pub fn parse_start_date(raw: &str, today: NaiveDate) -> Result<NaiveDate, &'static str> {
    let date = NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| "must be a date (YYYY-MM-DD)")?;
    if date > today {
        return Err("must not be in the future");
    }
    if date.year() < 1900 {
        return Err("must be after 1900");
    }
    Ok(date)
}

/// A time of day `HH:MM`, normalised to two digits each.
pub fn parse_send_time(raw: &str) -> Result<String, &'static str> {
    let time = NaiveTime::parse_from_str(raw.trim(), "%H:%M").map_err(|_| "must be a time of day (HH:MM)")?;
    Ok(time.format("%H:%M").to_string())
}

/// A push-notification registration token: opaque, bounded.
pub fn parse_fcm_code(raw: &str) -> Result<String, &'static str> {
    let code = raw.trim();
    if code.len() > 4096 {
        return Err("must be at most 4096 characters");
    }
    if code.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    Ok(code.to_owned())
}

/// A 6-digit match code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchCode(String);

impl MatchCode {
    /// Exactly six ASCII digits.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let code = raw.trim();
        if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) { Ok(Self(code.to_owned())) } else { Err("must be 6 digits") }
    }

    /// A uniformly random code.
    pub fn random() -> Self {
        use rand::Rng;
        Self(format!("{:06}", rand::thread_rng().gen_range(0..1_000_000)))
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Days since the start, counting the start date itself as day 1 ("D+1").
pub fn days_since_start(start: NaiveDate, today: NaiveDate) -> i64 {
    (today - start).num_days() + 1
}

/// The next anniversary on or after `today`: every 100 days and every year.
pub fn next_anniversary(start: NaiveDate, today: NaiveDate) -> (NaiveDate, String) {
    let day = days_since_start(start, today).max(1);
    let hundreds = (day + 99) / 100 * 100;
    let hundred_date = start + chrono::Duration::days(hundreds - 1);
    let mut years = (today.year() - start.year()).max(1);
    let yearly = loop {
        // 29 February falls back to 28 February in common years.
        let date = start.with_year(start.year() + years).or_else(|| (start - chrono::Duration::days(1)).with_year(start.year() + years));
        match date {
            Some(d) if d >= today => break (d, years),
            _ => years += 1,
        }
    };
    if yearly.0 < hundred_date {
        (yearly.0, if yearly.1 == 1 { "1 year".to_owned() } else { format!("{} years", yearly.1) })
    } else {
        (hundred_date, format!("{hundreds} days"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn emails_are_trimmed_and_keyed_case_insensitively() {
        let email = Email::parse("  Ann.Lee@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "Ann.Lee@Example.COM");
        assert_eq!(email.key(), "ann.lee@example.com");
    }

    #[test]
    fn malformed_emails_are_rejected() {
        for bad in ["", "plain", "a@b", "a@.com", "a@b..com", "a b@c.com", "@example.com", "a@exa mple.com"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn passwords_are_bounded_in_characters_not_bytes() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse("eightchr").is_ok());
        assert!(Password::parse(&"é".repeat(128)).is_ok());
        assert!(Password::parse(&"a".repeat(129)).is_err());
        assert_eq!(format!("{:?}", Password::parse("secret-password").unwrap()), "Password(***)");
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(Name::parse("  Mina ").unwrap().into_inner(), "Mina");
        assert!(Name::parse("   ").is_err());
        assert!(Name::parse(&"가".repeat(50)).is_ok());
        assert!(Name::parse(&"가".repeat(51)).is_err());
        assert!(Name::parse("a\u{0}b").is_err());
    }

    #[test]
    fn birth_dates_must_be_in_the_past() {
        let today = date("2026-11-25");
        assert!(parse_birth("2000-02-29", today).is_ok());
        assert!(parse_birth("2026-11-25", today).is_err());
        assert!(parse_birth("1899-12-31", today).is_err());
        assert!(parse_birth("2001-02-29", today).is_err());
        assert!(parse_birth("25/11/2000", today).is_err());
    }

    #[test]
    fn send_times_are_normalised() {
        assert_eq!(parse_send_time("9:05").unwrap(), "09:05");
        assert!(parse_send_time("24:00").is_err());
        assert!(parse_send_time("noon").is_err());
    }

    #[test]
    fn match_codes_are_six_digits() {
        assert!(MatchCode::parse("012345").is_ok());
        assert!(MatchCode::parse("12345").is_err());
        assert!(MatchCode::parse("12345a").is_err());
        assert!(MatchCode::parse("١٢٣٤٥٦").is_err());
        for _ in 0..100 {
            assert!(MatchCode::parse(MatchCode::random().as_str()).is_ok());
        }
    }

    #[test]
    fn the_start_date_is_day_one() {
        assert_eq!(days_since_start(date("2026-11-25"), date("2026-11-25")), 1);
        assert_eq!(days_since_start(date("2026-11-24"), date("2026-11-25")), 2);
    }

    #[test]
    fn the_next_anniversary_is_the_nearest_hundred_days_or_year() {
        let start = date("2026-01-01");
        // Day 100 is 2026-04-10.
        assert_eq!(next_anniversary(start, date("2026-01-01")), (date("2026-04-10"), "100 days".into()));
        assert_eq!(next_anniversary(start, date("2026-04-10")), (date("2026-04-10"), "100 days".into()));
        // After day 300 (2026-10-27) the first year comes before day 400.
        assert_eq!(next_anniversary(start, date("2026-12-01")), (date("2027-01-01"), "1 year".into()));
        assert_eq!(next_anniversary(date("2024-02-29"), date("2025-02-20")), (date("2025-02-28"), "1 year".into()));
    }
}
