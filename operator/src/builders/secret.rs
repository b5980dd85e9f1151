//! The operator's Secrets: generated values (signing key, internal token, passwords) and the
//! connection URLs derived from them.
//!
//! A generated value is created once and never regenerated: when the Secret already holds it (as
//! read from the cluster), the builder copies it; only an absent value is drawn, from [`Entropy`]
//! the read step seeded from the OS RNG. So the builder stays a pure function of its inputs, and a
//! second build with the Secrets in place gives byte-identical objects. URLs are derived, not
//! generated, so they follow a changed host while the password stays.

use std::collections::BTreeMap;

use k8s_openapi::{ByteString, api::core::v1::Secret};
use rand::{
    RngCore, SeedableRng,
    distributions::{Alphanumeric, DistString},
    rngs::StdRng,
};
use sha2::{Digest, Sha256};

use super::{
    Component, Platform,
    topology::{DATABASE_KEY, INTERNAL_TOKEN_KEY, JWT_KEY, PASSWORD_KEY, URL_KEY, USERNAME_KEY},
};

/// The data of a Secret, as the API returns it.
pub type SecretData = BTreeMap<String, ByteString>;

/// The PostgreSQL superuser of the managed server (the image's default).
pub const POSTGRES_ADMIN_USER: &str = "postgres";
/// The MongoDB root user of the managed server.
pub const MONGODB_ROOT_USER: &str = "root";
/// The database question-answer's MongoDB URL names; it authenticates against `admin`.
pub const MONGODB_DATABASE: &str = "question_answer";

/// Where fresh secret values come from: a 256-bit seed drawn once per reconcile from a
/// cryptographic RNG. Each value is derived from the seed and the Secret's name and key, so the
/// builder needs no `&mut` RNG and tests can fix the seed.
#[derive(Clone)]
pub struct Entropy([u8; 32]);

impl Entropy {
    /// Draws a seed; pass `rand::rngs::OsRng` in production, a seeded RNG in tests.
    pub fn from_rng(rng: &mut impl RngCore) -> Self {
        let mut seed = [0; 32];
        rng.fill_bytes(&mut seed);
        Self(seed)
    }

    /// `len` alphanumeric characters for `key` of the Secret `secret`: safe in URLs and shells
    /// without quoting, and 5.95 bits each.
    pub fn value(&self, secret: &str, key: &str, len: usize) -> String {
        let mut hasher = Sha256::new();
        for part in [&self.0[..], secret.as_bytes(), &[0], key.as_bytes()] {
            hasher.update(part);
        }
        let mut rng = StdRng::from_seed(hasher.finalize().into());
        Alphanumeric.sample_string(&mut rng, len)
    }
}

impl std::fmt::Debug for Entropy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Entropy(..)")
    }
}

/// The value of `key` in `existing` when present (never regenerated), else a fresh one.
fn kept_or_generated(name: &str, key: &str, len: usize, existing: Option<&SecretData>, entropy: &Entropy) -> String {
    match existing.and_then(|data| data.get(key)) {
        Some(value) => String::from_utf8_lossy(&value.0).into_owned(),
        None => entropy.value(name, key, len),
    }
}

fn secret(platform: &Platform, name: String, component: Component, data: BTreeMap<&str, String>) -> Secret {
    Secret {
        metadata: platform.meta(name, component),
        type_: Some("Opaque".to_owned()),
        data: Some(data.into_iter().map(|(k, v)| (k.to_owned(), ByteString(v.into_bytes()))).collect()),
        ..Secret::default()
    }
}

/// `<app>-jwt`, key `secret`: a 64-character HS256 signing key (the binaries want 32 bytes or
/// more). Only when the spec references no key of its own.
pub fn build_jwt_secret(platform: &Platform, existing: Option<&SecretData>, entropy: &Entropy) -> Secret {
    let name = platform.jwt_secret_name();
    let value = kept_or_generated(&name, JWT_KEY, 64, existing, entropy);
    secret(platform, name, Component::Gateway, BTreeMap::from([(JWT_KEY, value)]))
}

/// `<app>-internal`, key `token`: what the gateway presents to user-couple's `/internal/` API.
pub fn build_internal_secret(platform: &Platform, existing: Option<&SecretData>, entropy: &Entropy) -> Secret {
    let name = platform.internal_secret_name();
    let value = kept_or_generated(&name, INTERNAL_TOKEN_KEY, 48, existing, entropy);
    secret(platform, name, Component::Gateway, BTreeMap::from([(INTERNAL_TOKEN_KEY, value)]))
}

/// `<app>-postgres-admin`: the managed server's superuser password (read by the image at first
/// start) and its URL (used by the provisioning Job).
pub fn build_postgres_admin_secret(platform: &Platform, existing: Option<&SecretData>, entropy: &Entropy) -> Secret {
    let name = platform.postgres_admin_secret_name();
    let password = kept_or_generated(&name, PASSWORD_KEY, 32, existing, entropy);
    let url = format!(
        "postgres://{}:{}@{}:{}/postgres",
        POSTGRES_ADMIN_USER,
        encode(&password),
        platform.service_host(Component::Postgres),
        Component::Postgres.port()
    );
    secret(
        platform,
        name,
        Component::Postgres,
        BTreeMap::from([(USERNAME_KEY, POSTGRES_ADMIN_USER.to_owned()), (PASSWORD_KEY, password), (URL_KEY, url)]),
    )
}

/// `<app>-db-<service>`: the service's login (named like its database), generated password,
/// database and `url`. The URL is derived from the admin URL (same host, port and query, such as
/// `sslmode`); when that is unknown (an external admin Secret not readable yet) the URL already
/// stored is kept, or left out until it can be derived, while the password is kept either way.
pub fn build_database_secret(
    platform: &Platform,
    service: Component,
    admin_url: Option<&str>,
    existing: Option<&SecretData>,
    entropy: &Entropy,
) -> Option<Secret> {
    let database = service.database()?;
    let name = platform.database_secret_name(service);
    let password = kept_or_generated(&name, PASSWORD_KEY, 32, existing, entropy);
    let url = admin_url
        .and_then(|admin| service_database_url(admin, database, &password, database))
        .or_else(|| existing.and_then(|d| d.get(URL_KEY)).map(|v| String::from_utf8_lossy(&v.0).into_owned()));
    let mut data = BTreeMap::from([(USERNAME_KEY, database.to_owned()), (PASSWORD_KEY, password), (DATABASE_KEY, database.to_owned())]);
    if let Some(url) = url {
        data.insert(URL_KEY, url);
    }
    Some(secret(platform, name, service, data))
}

/// `<app>-redis`: the managed Redis password (`requirepass`) and the URL carrying it.
pub fn build_redis_secret(platform: &Platform, existing: Option<&SecretData>, entropy: &Entropy) -> Secret {
    let name = platform.managed_secret_name(Component::Redis);
    let password = kept_or_generated(&name, PASSWORD_KEY, 32, existing, entropy);
    let url = format!("redis://:{}@{}:{}", encode(&password), platform.service_host(Component::Redis), Component::Redis.port());
    secret(platform, name, Component::Redis, BTreeMap::from([(PASSWORD_KEY, password), (URL_KEY, url)]))
}

/// `<app>-mongodb`: the managed MongoDB root login (created by the image at first start) and the
/// URL question-answer uses.
pub fn build_mongodb_secret(platform: &Platform, existing: Option<&SecretData>, entropy: &Entropy) -> Secret {
    let name = platform.managed_secret_name(Component::Mongodb);
    let password = kept_or_generated(&name, PASSWORD_KEY, 32, existing, entropy);
    let url = format!(
        "mongodb://{}:{}@{}:{}/{}?authSource=admin",
        MONGODB_ROOT_USER,
        encode(&password),
        platform.service_host(Component::Mongodb),
        Component::Mongodb.port(),
        MONGODB_DATABASE
    );
    secret(
        platform,
        name,
        Component::Mongodb,
        BTreeMap::from([(USERNAME_KEY, MONGODB_ROOT_USER.to_owned()), (PASSWORD_KEY, password), (URL_KEY, url)]),
    )
}

/// A service's URL from the admin URL: the admin's host, port and query with the service's
/// login and database. `None` when `admin` is not a `postgres://` or `postgresql://` URL.
pub fn service_database_url(admin: &str, role: &str, password: &str, database: &str) -> Option<String> {
    let rest = admin.trim().strip_prefix("postgres://").or_else(|| admin.trim().strip_prefix("postgresql://"))?;
    let (before_query, query) = match rest.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (rest, None),
    };
    let authority = before_query.split('/').next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    if host.is_empty() {
        return None;
    }
    let query = query.map(|q| format!("?{q}")).unwrap_or_default();
    Some(format!("postgres://{}:{}@{host}/{}{query}", encode(role), encode(password), encode(database)))
}

/// Percent-encodes everything but RFC 3986 unreserved characters, so a password edited by hand
/// (with `@`, `:` or `/`) still makes a valid URL.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::fixtures;
    use super::*;

    fn entropy(seed: u64) -> Entropy {
        Entropy::from_rng(&mut StdRng::seed_from_u64(seed))
    }

    fn text(secret: &Secret, key: &str) -> String {
        String::from_utf8(secret.data.as_ref().unwrap()[key].0.clone()).unwrap()
    }

    #[test]
    fn a_value_is_generated_when_absent_and_kept_when_present() {
        let app = fixtures::managed();
        let p = Platform::new(&app).unwrap();
        let first = build_jwt_secret(&p, None, &entropy(1));
        let key = text(&first, "secret");
        assert_eq!(key.len(), 64);
        assert!(key.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(text(&build_jwt_secret(&p, None, &entropy(2)), "secret"), key, "another seed, another key");
        let again = build_jwt_secret(&p, first.data.as_ref(), &entropy(2));
        assert_eq!(again, first, "an existing key is never regenerated");
    }

    #[test]
    fn values_differ_between_secrets_and_keys() {
        let e = entropy(1);
        assert_ne!(e.value("demo-redis", "password", 32), e.value("demo-mongodb", "password", 32));
        assert_ne!(e.value("demo-redis", "password", 32), e.value("demo-redis", "token", 32));
        assert_eq!(e.value("demo-redis", "password", 32), e.value("demo-redis", "password", 32));
        assert_eq!(format!("{e:?}"), "Entropy(..)");
    }

    #[test]
    fn managed_urls_point_at_the_managed_services_with_the_generated_passwords() {
        let app = fixtures::managed();
        let p = Platform::new(&app).unwrap();
        let admin = build_postgres_admin_secret(&p, None, &entropy(1));
        let password = text(&admin, "password");
        assert_eq!(text(&admin, "url"), format!("postgres://postgres:{password}@demo-postgres.couple.svc:5432/postgres"));
        let redis = build_redis_secret(&p, None, &entropy(1));
        assert_eq!(text(&redis, "url"), format!("redis://:{}@demo-redis.couple.svc:6379", text(&redis, "password")));
        let mongo = build_mongodb_secret(&p, None, &entropy(1));
        assert_eq!(
            text(&mongo, "url"),
            format!("mongodb://root:{}@demo-mongodb.couple.svc:27017/question_answer?authSource=admin", text(&mongo, "password"))
        );
    }

    #[test]
    fn a_service_url_takes_host_port_and_query_from_the_admin_url() {
        assert_eq!(
            service_database_url(
                "postgresql://admin:s3cr%40t@db.example.com:6432/postgres?sslmode=require",
                "user_couple",
                "pw",
                "user_couple"
            )
            .as_deref(),
            Some("postgres://user_couple:pw@db.example.com:6432/user_couple?sslmode=require")
        );
        assert_eq!(service_database_url("postgres://db", "r", "p@ss", "d").as_deref(), Some("postgres://r:p%40ss@db/d"));
        assert_eq!(service_database_url("mysql://db/x", "r", "p", "d"), None);
        assert_eq!(service_database_url("postgres://user@/x", "r", "p", "d"), None);
    }

    #[test]
    fn a_database_secret_keeps_its_password_and_url_while_the_admin_url_is_unknown() {
        let app = fixtures::external();
        let p = Platform::new(&app).unwrap();
        let admin = "postgres://admin:x@pg.example.com:5432/postgres";
        let built = build_database_secret(&p, Component::UserCouple, Some(admin), None, &entropy(1)).unwrap();
        assert_eq!(built.metadata.name.as_deref(), Some("demo-db-user-couple"));
        let password = text(&built, "password");
        assert_eq!(text(&built, "url"), format!("postgres://user_couple:{password}@pg.example.com:5432/user_couple"));
        assert_eq!((text(&built, "username"), text(&built, "database")), ("user_couple".into(), "user_couple".into()));

        let kept = build_database_secret(&p, Component::UserCouple, None, built.data.as_ref(), &entropy(2)).unwrap();
        assert_eq!(kept, built);
        let first = build_database_secret(&p, Component::UserCouple, None, None, &entropy(2)).unwrap();
        assert!(!first.data.unwrap().contains_key("url"), "no URL until the host is known");
        assert!(build_database_secret(&p, Component::Gateway, Some(admin), None, &entropy(1)).is_none());
    }
}
