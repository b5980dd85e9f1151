//! Validation of a CoupleApp's spec, beyond what the CRD schema can say on every Kubernetes
//! version (no CEL before 1.25): pure, so every rule is unit-tested, and reported as a condition
//! and an event instead of a crash.

use crate::{
    builders::job::MIGRATION_HASH_LEN,
    crd::{CoupleAppSpec, DatabaseSpec},
};

/// The longest CoupleApp name whose children all fit Kubernetes' limits. The tightest is a Job's
/// name, which becomes a 63-character label value on its pods: `<app>-schedule-meeting-migrate-<hash>`.
pub const MAX_NAME_LEN: usize = 63 - "-schedule-meeting-migrate-".len() - MIGRATION_HASH_LEN;

/// One problem with a spec, naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The field, e.g. `spec.databases.postgres`.
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Checks the rules the schema cannot for the CoupleApp `name`; every problem is reported, not
/// just the first.
pub fn validate(name: &str, spec: &CoupleAppSpec) -> Result<(), Vec<Problem>> {
    let mut problems = Vec::new();
    let mut problem = |field: &'static str, message: String| problems.push(Problem { field, message });

    if name.len() > MAX_NAME_LEN {
        problem(
            "metadata.name",
            format!(
                "{name:?} has {} characters; at most {MAX_NAME_LEN} fit, since child names such as \
                 {name}-schedule-meeting-migrate-<hash> must stay within 63",
                name.len()
            ),
        );
    }

    let databases = &spec.databases;
    for (field, db) in [
        ("spec.databases.postgres", databases.postgres.as_ref()),
        ("spec.databases.redis", databases.redis.as_ref()),
        ("spec.databases.mongodb", databases.mongodb.as_ref()),
    ] {
        if let Some(db) = db
            && let Err(message) = exactly_one(db)
        {
            problem(field, message);
        }
    }

    let services = &spec.services;
    let needs_postgres = needing([
        ("user-couple", services.user_couple.enabled),
        ("schedule-meeting", services.schedule_meeting.service.enabled),
        ("question-answer", services.question_answer.enabled),
        ("chat with more than one replica", services.chat.service.enabled && services.chat.service.replicas > 1),
    ]);
    if databases.postgres.is_none() && !needs_postgres.is_empty() {
        problem("spec.databases.postgres", format!("PostgreSQL is required by {}", needs_postgres.join(", ")));
    }

    let needs_redis = needing([
        ("the gateway with more than one replica", spec.gateway.replicas > 1),
        ("user-couple with more than one replica", services.user_couple.enabled && services.user_couple.replicas > 1),
        ("chat with more than one replica", services.chat.service.enabled && services.chat.service.replicas > 1),
    ]);
    if databases.redis.is_none() && !needs_redis.is_empty() {
        problem("spec.databases.redis", format!("Redis is required by {} (replicas share state through it)", needs_redis.join(", ")));
    }

    if let Some(ttl) = &spec.auth.access_token_ttl
        && parse_duration_secs(ttl).is_none_or(|secs| secs == 0)
    {
        problem("spec.auth.accessTokenTtl", format!("{ttl:?} is not a positive duration such as 15m, 900s or 1h"));
    }
    if let Some(ingress) = spec.gateway.ingress.as_ref().filter(|i| i.enabled)
        && !is_dns_name(&ingress.host)
    {
        problem("spec.gateway.ingress.host", format!("{:?} is not a DNS host name", ingress.host));
    }
    for origin in &spec.gateway.allowed_origins {
        if !(origin.starts_with("https://") || origin.starts_with("http://")) || origin.ends_with('/') {
            problem("spec.gateway.allowedOrigins", format!("{origin:?} is not an origin such as https://couple.example.com"));
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}

/// The names of the candidates that need something.
fn needing<const N: usize>(candidates: [(&'static str, bool); N]) -> Vec<&'static str> {
    candidates.into_iter().filter_map(|(name, needs)| needs.then_some(name)).collect()
}

fn exactly_one(db: &DatabaseSpec) -> Result<(), String> {
    match (&db.managed, &db.external) {
        (Some(_), None) | (None, Some(_)) => Ok(()),
        (Some(_), Some(_)) => Err("set either managed or external, not both".into()),
        (None, None) => Err("set one of managed or external".into()),
    }
}

/// `15m`, `900s`, `1h` to seconds.
pub fn parse_duration_secs(value: &str) -> Option<u64> {
    let (number, unit) = value.split_at(value.len().checked_sub(1)?);
    let number: u64 = number.parse().ok()?;
    let factor = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return None,
    };
    number.checked_mul(factor)
}

fn is_dns_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        builders::fixtures,
        crd::{ExternalDatabase, IngressSpec, ManagedDatabase, SecretRef},
    };

    /// Managed PostgreSQL and Redis, every service with one replica, the gateway with two.
    fn spec() -> CoupleAppSpec {
        fixtures::with_services(serde_json::json!({})).spec
    }

    fn fields(spec: &CoupleAppSpec) -> Vec<&'static str> {
        validate("demo", spec).err().unwrap_or_default().into_iter().map(|p| p.field).collect()
    }

    #[test]
    fn names_longer_than_the_children_allow_are_rejected() {
        let longest = "a".repeat(MAX_NAME_LEN);
        assert_eq!(validate(&longest, &spec()), Ok(()));
        let problems = validate(&format!("{longest}b"), &spec()).unwrap_err();
        assert_eq!(problems.iter().map(|p| p.field).collect::<Vec<_>>(), ["metadata.name"]);
        assert!(problems[0].message.contains(&format!("at most {MAX_NAME_LEN}")), "{}", problems[0].message);
    }

    #[test]
    fn the_fixture_specs_are_valid() {
        for app in [fixtures::managed(), fixtures::external(), fixtures::with_services(serde_json::json!({}))] {
            assert_eq!(validate("demo", &app.spec), Ok(()));
        }
    }

    #[test]
    fn a_database_must_be_exactly_one_of_managed_or_external() {
        let mut both = spec();
        both.databases.postgres = Some(DatabaseSpec {
            managed: Some(ManagedDatabase::default()),
            external: Some(ExternalDatabase { secret_ref: SecretRef { name: "pg".into() } }),
        });
        assert_eq!(fields(&both), ["spec.databases.postgres"]);
        let mut neither = spec();
        neither.databases.mongodb = Some(DatabaseSpec::default());
        assert_eq!(fields(&neither), ["spec.databases.mongodb"]);
    }

    #[test]
    fn chat_scaled_out_without_postgres_is_rejected() {
        let mut s = spec();
        s.databases.postgres = None;
        s.services.user_couple.enabled = false;
        s.services.schedule_meeting.service.enabled = false;
        s.services.question_answer.enabled = false;
        assert_eq!(validate("demo", &s), Ok(()), "chat alone on SQLite needs no PostgreSQL");
        s.services.chat.service.replicas = 3;
        let problems = validate("demo", &s).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.contains("chat with more than one replica"), "{}", problems[0]);
    }

    #[test]
    fn replicas_that_share_state_need_redis() {
        let mut s = spec();
        s.databases.redis = None;
        assert_eq!(fields(&s), ["spec.databases.redis"], "the default gateway runs two replicas");
        s.gateway.replicas = 1;
        assert_eq!(validate("demo", &s), Ok(()));
        s.services.user_couple.replicas = 2;
        assert_eq!(fields(&s), ["spec.databases.redis"]);
    }

    #[test]
    fn durations_hosts_and_origins_are_checked() {
        let mut s = spec();
        s.auth.access_token_ttl = Some("0m".into());
        s.gateway.ingress = Some(IngressSpec { enabled: true, class_name: None, host: "Not A Host".into(), tls_secret_name: None });
        s.gateway.allowed_origins = vec!["couple.example.com".into(), "https://ok.example.com".into()];
        assert_eq!(fields(&s), ["spec.auth.accessTokenTtl", "spec.gateway.ingress.host", "spec.gateway.allowedOrigins"]);
        assert_eq!(parse_duration_secs("15m"), Some(900));
        assert_eq!(parse_duration_secs("2h"), Some(7200));
        assert_eq!(parse_duration_secs("15"), None);
        assert_eq!(parse_duration_secs(""), None);
    }
}
