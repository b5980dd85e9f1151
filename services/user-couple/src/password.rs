//! Argon2id hashing on a fixed set of dedicated threads, with bounded admission: at most
//! `concurrency` hashes run at once and at most `queue` wait, so a login flood turns into quick
//! 503s instead of starving every other request.
//!
//! Dedicated threads rather than the runtime's blocking pool: each Argon2 hash needs 19 MiB of
//! working memory, and each worker allocates that once and reuses it for every hash, so the
//! footprint is bounded by the number of workers. (Allocating per hash, glibc soon serves such
//! blocks from per-thread heaps and keeps them: an 11 MiB service stood at 109 MiB after a login
//! flood.) The workers also run at a lower scheduling priority than the request handlers.

use std::{
    sync::{Arc, Mutex, mpsc},
    thread,
};

use argon2::{
    Algorithm, Argon2, Block, Params, PasswordHash, PasswordHasher, Version,
    password_hash::{Output, ParamsString, SaltString},
};
use tokio::sync::oneshot;

use crate::error::{Error, Result};

/// Argon2id with the OWASP minimum: 19 MiB, 2 passes, 1 lane.
fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(19 * 1024, 2, 1, None).expect("valid Argon2 parameters"))
}

enum Job {
    Hash { password: String, reply: oneshot::Sender<Result<String>> },
    Verify { password: String, hash: String, reply: oneshot::Sender<bool> },
}

/// A worker's Argon2 working memory, allocated on its first hash (so an idle service stays
/// small) and reused for every later one.
#[derive(Default)]
struct Memory(Vec<Block>);

impl Memory {
    /// The blocks `params` needs, allocated once.
    fn blocks(&mut self, params: &Params) -> &mut [Block] {
        if self.0.len() != params.block_count() {
            self.0 = vec![Block::default(); params.block_count()];
        }
        &mut self.0
    }

    /// A PHC string of `password` with a fresh salt: what `PasswordHasher::hash_password` gives,
    /// computed in this memory.
    fn hash(&mut self, password: &[u8]) -> std::result::Result<String, argon2::password_hash::Error> {
        let argon2 = argon2();
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let mut salt_bytes = [0u8; 64];
        let salt_bytes = salt.decode_b64(&mut salt_bytes)?;
        let blocks = self.blocks(argon2.params());
        let output = Output::init_with(Params::DEFAULT_OUTPUT_LEN, |out| {
            Ok(argon2.hash_password_into_with_memory(password, salt_bytes, out, &mut *blocks)?)
        })?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(argon2.params())?,
            salt: Some(salt.as_salt()),
            hash: Some(output),
        };
        Ok(phc.to_string())
    }

    /// Whether `password` matches the PHC string `hash` (any Argon2 variant and parameters, as
    /// `PasswordVerifier` would check it), computed in this memory.
    fn verify(&mut self, password: &[u8], hash: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(hash) else { return false };
        let (Ok(algorithm), Ok(params), Some(salt), Some(expected)) =
            (Algorithm::try_from(parsed.algorithm), Params::try_from(&parsed), parsed.salt, parsed.hash)
        else {
            return false;
        };
        let Ok(version) = parsed.version.map_or(Ok(Version::default()), Version::try_from) else { return false };
        let mut salt_bytes = [0u8; 64];
        let Ok(salt_bytes) = salt.decode_b64(&mut salt_bytes) else { return false };
        let blocks = self.blocks(&params);
        let argon2 = Argon2::new(algorithm, version, params);
        let computed =
            Output::init_with(expected.len(), |out| Ok(argon2.hash_password_into_with_memory(password, salt_bytes, out, &mut *blocks)?));
        // `Output`'s equality is constant-time.
        computed.is_ok_and(|computed| computed == expected)
    }
}

impl Job {
    fn run(self, memory: &mut Memory) {
        // A dropped reply means the request went away; there is nobody to tell.
        match self {
            Job::Hash { password, reply } => {
                let hash = memory.hash(password.as_bytes());
                let _ = reply.send(hash.map_err(|e| Error::Internal(format!("hashing failed: {e}"))));
            }
            Job::Verify { password, hash, reply } => {
                let _ = reply.send(memory.verify(password.as_bytes(), &hash));
            }
        }
    }
}

/// The bounded password hasher; cheap to clone.
#[derive(Clone)]
pub struct Hasher {
    jobs: mpsc::SyncSender<Job>,
    /// A real hash of a random password, verified against when the email is unknown so that
    /// unknown emails and wrong passwords take the same time.
    dummy: Arc<str>,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher").finish_non_exhaustive()
    }
}

impl Hasher {
    /// Starts `concurrency` worker threads with room for `queue` waiting jobs. The workers stop
    /// when the last clone of the hasher is dropped.
    pub fn new(concurrency: usize, queue: usize) -> Self {
        let (jobs, receiver) = mpsc::sync_channel::<Job>(queue);
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..concurrency.max(1) {
            let receiver = receiver.clone();
            thread::Builder::new()
                .name(format!("argon2-{index}"))
                .spawn(move || {
                    lower_priority();
                    let mut memory = Memory::default();
                    loop {
                        // The lock is held only while waiting for the next job, not while hashing.
                        let job = match receiver.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job.run(&mut memory),
                            Err(_) => return,
                        }
                    }
                })
                .expect("spawning a hashing thread");
        }
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let dummy = argon2()
            .hash_password(uuid::Uuid::new_v4().to_string().as_bytes(), &salt)
            .expect("hashing a fixed-size input cannot fail")
            .to_string();
        Self { jobs, dummy: dummy.into() }
    }

    fn submit(&self, job: Job) -> Result<()> {
        self.jobs.try_send(job).map_err(|err| match err {
            mpsc::TrySendError::Full(_) => Error::Busy,
            mpsc::TrySendError::Disconnected(_) => Error::Internal("the hashing threads have stopped".into()),
        })
    }

    /// Hashes a password into a PHC string.
    pub async fn hash(&self, password: String) -> Result<String> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Hash { password, reply })?;
        answer.await.map_err(|_| Error::Internal("a hashing thread failed".into()))?
    }

    /// Checks a password against a stored hash; with no hash (unknown email) it does the same
    /// work against the dummy hash and answers `false`.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool> {
        let known = hash.is_some();
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Verify { password, hash: hash.unwrap_or_else(|| self.dummy.to_string()), reply })?;
        let ok = answer.await.map_err(|_| Error::Internal("a hashing thread failed".into()))?;
        Ok(known && ok)
    }
}

/// Gives the calling thread a nice value of 10, so that under CPU contention the scheduler runs
/// request handling before password hashing: a login flood then slows logins, not everything.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    if let Err(err) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 10) {
        tracing::debug!(%err, "could not lower the priority of a hashing thread");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::PasswordVerifier;

    #[test]
    fn hashes_from_reused_memory_are_standard_phc_strings_both_ways() {
        let mut memory = Memory::default();
        let ours = memory.hash(b"correct horse").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(argon2().verify_password(b"correct horse", &parsed).is_ok(), "the argon2 crate accepts ours");
        let theirs = argon2().hash_password(b"correct horse", &SaltString::generate(&mut rand::rngs::OsRng)).unwrap().to_string();
        assert!(memory.verify(b"correct horse", &theirs), "we accept the argon2 crate's");
        assert!(!memory.verify(b"wrong horse", &theirs) && !memory.verify(b"wrong horse", &ours));
        assert!(!memory.verify(b"correct horse", "not a hash"));
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let older = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(8 * 1024, 3, 1, None).unwrap());
        let old_policy = older.hash_password(b"correct horse", &salt).unwrap().to_string();
        assert!(memory.verify(b"correct horse", &old_policy), "hashes of other parameters still verify");
        assert!(!memory.verify(b"wrong horse", &old_policy));
        assert!(memory.verify(b"correct horse", &ours), "and the memory is resized back");
    }

    #[tokio::test]
    async fn hashes_verify_only_the_right_password() {
        let hasher = Hasher::new(2, 8);
        let hash = hasher.hash("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(hasher.verify("correct horse".into(), Some(hash.clone())).await.unwrap());
        assert!(!hasher.verify("wrong horse".into(), Some(hash)).await.unwrap());
        assert!(!hasher.verify("anything".into(), None).await.unwrap());
        assert!(!hasher.verify("anything".into(), Some("not a phc string".into())).await.unwrap());
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_run_at_a_lower_priority() {
        let hasher = Hasher::new(1, 1);
        hasher.hash("password123".into()).await.unwrap();
        let mut seen = 0;
        for task in std::fs::read_dir("/proc/self/task").unwrap() {
            let dir = task.unwrap().path();
            let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
            if !comm.starts_with("argon2-") {
                continue;
            }
            // Field 19 of /proc/<pid>/task/<tid>/stat is the nice value; field 2 (the name) has
            // no spaces here, so splitting on whitespace is safe.
            let stat = std::fs::read_to_string(dir.join("stat")).unwrap();
            let nice: i32 = stat.split_whitespace().nth(18).unwrap().parse().unwrap();
            assert_eq!(nice, 10, "{comm}");
            seen += 1;
        }
        assert!(seen >= 1, "no hashing thread found");
    }

    #[tokio::test]
    async fn a_flood_beyond_the_queue_is_refused_quickly() {
        let hasher = Hasher::new(1, 2);
        let attempts: Vec<_> = (0..12)
            .map(|_| {
                let hasher = hasher.clone();
                tokio::spawn(async move { hasher.hash("password123".into()).await })
            })
            .collect();
        let mut busy = 0;
        for attempt in attempts {
            if matches!(attempt.await.unwrap(), Err(Error::Busy)) {
                busy += 1;
            }
        }
        // One running, two queued: the other nine are refused at once.
        assert!(busy >= 8, "only {busy} of 12 refused with one worker and a queue of 2");
    }
}
