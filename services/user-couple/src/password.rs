//! Argon2id hashing off the async runtime, with bounded concurrency: at most `concurrency`
//! hashes run at once on blocking threads and at most `queue` wait, so a login flood turns into
//! quick 503s instead of starving every other request.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version, password_hash::SaltString};
use tokio::sync::Semaphore;

use crate::error::{Error, Result};

/// Argon2id with the OWASP minimum: 19 MiB, 2 passes, 1 lane.
fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(19 * 1024, 2, 1, None).expect("valid Argon2 parameters"))
}

/// The bounded password hasher.
#[derive(Debug, Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    in_flight: Arc<AtomicUsize>,
    limit: usize,
    /// A real hash of a random password, verified against when the email is unknown so that
    /// unknown emails and wrong passwords take the same time.
    dummy: Arc<str>,
}

impl Hasher {
    /// A hasher running at most `concurrency` hashes with at most `queue` waiting.
    pub fn new(concurrency: usize, queue: usize) -> Self {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let dummy = argon2()
            .hash_password(uuid::Uuid::new_v4().to_string().as_bytes(), &salt)
            .expect("hashing a fixed-size input cannot fail")
            .to_string();
        let concurrency = concurrency.max(1);
        Self {
            permits: Arc::new(Semaphore::new(concurrency)),
            in_flight: Arc::new(AtomicUsize::new(0)),
            limit: concurrency + queue,
            dummy: dummy.into(),
        }
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        // Admission: running plus waiting hashes are bounded; the rest are refused at once.
        if self.in_flight.fetch_add(1, Ordering::AcqRel) >= self.limit {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return Err(Error::Busy);
        }
        let in_flight = self.in_flight.clone();
        let _admitted = scopeguard(move || {
            in_flight.fetch_sub(1, Ordering::AcqRel);
        });
        let permit = self.permits.clone().acquire_owned().await.map_err(|_| Error::Busy)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|e| Error::Internal(format!("hashing task failed: {e}")))
    }

    /// Hashes a password into a PHC string.
    pub async fn hash(&self, password: String) -> Result<String> {
        self.run(move || {
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            argon2()
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| Error::Internal(format!("hashing failed: {e}")))
        })
        .await?
    }

    /// Checks a password against a stored hash; with no hash (unknown email) it does the same
    /// work against the dummy hash and answers `false`.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy.to_string());
        let ok = self
            .run(move || match PasswordHash::new(&hash) {
                Ok(parsed) => argon2().verify_password(password.as_bytes(), &parsed).is_ok(),
                Err(_) => false,
            })
            .await?;
        Ok(known && ok)
    }
}

/// Runs `f` when dropped, so the admission count is released even if the request is cancelled.
fn scopeguard(f: impl FnOnce()) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_only_the_right_password() {
        let hasher = Hasher::new(2, 8);
        let hash = hasher.hash("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(hasher.verify("correct horse".into(), Some(hash.clone())).await.unwrap());
        assert!(!hasher.verify("wrong horse".into(), Some(hash)).await.unwrap());
        assert!(!hasher.verify("anything".into(), None).await.unwrap());
    }

    #[tokio::test]
    async fn a_flood_beyond_the_queue_is_refused_quickly() {
        let hasher = Hasher::new(1, 2);
        let attempts: Vec<_> = (0..12)
            .map(|_| {
                tokio::spawn({
                    let hasher = hasher.clone();
                    async move { hasher.hash("password123".into()).await }
                })
            })
            .collect();
        let mut busy = 0;
        for attempt in attempts {
            if matches!(attempt.await.unwrap(), Err(Error::Busy)) {
                busy += 1;
            }
        }
        assert!(busy >= 8, "only {busy} of 12 refused with a queue of 2");
    }
}
