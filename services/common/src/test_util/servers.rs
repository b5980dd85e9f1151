//! PostgreSQL, Redis and MongoDB-wire servers of a test's own, which it may stop and start again
//! to check how a service rides out an outage. The shared servers `make test` starts serve many
//! tests at once and must never be stopped; these use the same binaries (`TEST_PG_BINDIR`,
//! `TEST_REDIS_SERVER`, `TEST_MONGO_WIRE_SERVER`, written by `scripts/test-services.sh`) on a
//! private directory and port.
//!
//! All restart on the port they first got, so a service keeps its URL across the outage. Dropping
//! one stops it and deletes its files, also when the test panics.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::Mutex,
    time::{Duration, Instant},
};

use rand::Rng;
use uuid::Uuid;

use super::require_env;

/// How long a server gets to start or stop.
const SERVER_TIMEOUT: Duration = Duration::from_secs(30);

/// A free loopback port below the Linux ephemeral range (32768+), so no outgoing connection
/// takes it while a server is stopped and it can be bound again on restart; also for a process a
/// test starts, which must be told its port.
pub fn free_port() -> u16 {
    let mut rng = rand::thread_rng();
    for _ in 0..1000 {
        let port = rng.gen_range(20_000..32_000);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in 20000..32000");
}

/// Runs a blocking step off the async runtime, so a test's other tasks (its load, the service
/// under test) keep running meanwhile.
async fn blocking<T: Send + 'static>(step: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(step).await.expect("a server control step panicked")
}

fn run(command: &mut Command) {
    let output = command.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("running {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Whether this process runs as root (PostgreSQL refuses to, so its tools then run as `postgres`).
fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// A PostgreSQL cluster in a temporary directory, on its own port, with the default (durable)
/// settings, so what it acknowledged survives a stop.
pub struct PrivatePostgres {
    bindir: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl PrivatePostgres {
    /// Creates and starts the cluster; `None` (the test skips) when the binaries are not
    /// configured, as [`require_env`] decides.
    pub async fn start() -> Option<Self> {
        let bindir = PathBuf::from(require_env("TEST_PG_BINDIR")?);
        let dir = std::env::temp_dir().join(format!("couple-pg-{}", Uuid::new_v4().simple()));
        let server = Self { bindir, dir, port: free_port(), as_postgres: is_root() };
        let (dir, port) = (server.dir.clone(), server.port);
        let mut initdb = server.command("initdb");
        let mut mkdir = server.command_in_path("mkdir");
        blocking(move || {
            run(mkdir.arg("-m").arg("0700").arg(&dir));
            run(initdb.arg("-D").arg(dir.join("data")).args(["-U", "couple", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"]));
            // Loopback TCP only: no socket directory to place, nothing reachable from outside.
            let mut conf = std::fs::OpenOptions::new().append(true).open(dir.join("data/postgresql.conf")).expect("postgresql.conf");
            writeln!(conf, "\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = ''\nmax_connections = 100")
                .expect("write postgresql.conf");
        })
        .await;
        server.resume().await;
        Some(server)
    }

    /// `postgres://` URL of the cluster's `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://couple@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server the way an operator would (`pg_ctl stop -m fast`: open sessions are
    /// terminated, the data is flushed) and waits until it is down.
    pub async fn stop(&self) {
        let mut stop = self.pg_ctl("stop");
        stop.args(["-m", "fast", "-w", "-t"]).arg(SERVER_TIMEOUT.as_secs().to_string());
        blocking(move || run(&mut stop)).await;
    }

    /// Starts the (stopped) server again on the same data and port, and waits until it accepts
    /// connections.
    pub async fn resume(&self) {
        let mut start = self.pg_ctl("start");
        start.arg("-l").arg(self.dir.join("postgres.log")).arg("-w").arg("-t").arg(SERVER_TIMEOUT.as_secs().to_string());
        blocking(move || run(&mut start)).await;
        wait_for_port(self.port).await;
    }

    fn pg_ctl(&self, action: &str) -> Command {
        let mut command = self.command("pg_ctl");
        command.arg(action).arg("-D").arg(self.dir.join("data"));
        command
    }

    fn command(&self, tool: &str) -> Command {
        self.command_in_path(&self.bindir.join(tool).to_string_lossy())
    }

    /// `program`, run as `postgres` when this process is root.
    fn command_in_path(&self, program: &str) -> Command {
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--", program]).current_dir("/");
            command
        } else {
            Command::new(program)
        }
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        // Immediate: no checkpoint needed, the data is deleted next. Fails harmlessly when the
        // server is already stopped.
        let _ = self.pg_ctl("stop").args(["-m", "immediate", "-w"]).stdout(Stdio::null()).stderr(Stdio::null()).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis server without persistence on its own port, a child of the test process.
pub struct PrivateRedis {
    program: String,
    dir: PathBuf,
    port: u16,
    child: Mutex<Option<Child>>,
}

impl PrivateRedis {
    /// Starts the server; `None` (the test skips) when `TEST_REDIS_SERVER` is not set, as
    /// [`require_env`] decides.
    pub async fn start() -> Option<Self> {
        let program = require_env("TEST_REDIS_SERVER")?;
        let dir = std::env::temp_dir().join(format!("couple-redis-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("create a directory for Redis");
        let server = Self { program, dir, port: free_port(), child: Mutex::new(None) };
        server.resume().await;
        Some(server)
    }

    /// `redis://` URL of the server.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL: an abrupt outage, connections just break) and waits for it.
    pub async fn stop(&self) {
        kill(&self.child).await;
    }

    /// Starts the (stopped) server again on the same port, empty, and waits until it answers PING.
    pub async fn resume(&self) {
        let child = Command::new(&self.program)
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string(), "--save", "", "--appendonly", "no", "--dir"])
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.program));
        *self.child.lock().unwrap() = Some(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + SERVER_TIMEOUT;
        while !blocking(move || redis_pings(addr)).await {
            assert!(Instant::now() < deadline, "redis-server did not answer PING on {addr} within {SERVER_TIMEOUT:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn redis_pings(addr: SocketAddr) -> bool {
    let Ok(mut conn) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else { return false };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(1)));
    let mut reply = [0; 7];
    conn.write_all(b"PING\r\n").is_ok() && conn.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        kill_now(&self.child);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An nx-27017 MongoDB wire-protocol server on its own port, a child of the test process. Its
/// data is on files (one SQLite file per database, in a temporary directory), so what it
/// acknowledged survives [`stop`](Self::stop) and [`resume`](Self::resume).
pub struct PrivateMongo {
    program: String,
    dir: PathBuf,
    port: u16,
    child: Mutex<Option<Child>>,
}

impl PrivateMongo {
    /// Starts the server; `None` (the test skips) when `TEST_MONGO_WIRE_SERVER` is not set, as
    /// [`require_env`] decides.
    pub async fn start() -> Option<Self> {
        let program = require_env("TEST_MONGO_WIRE_SERVER")?;
        let dir = std::env::temp_dir().join(format!("couple-mongo-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(dir.join("data")).expect("create a directory for nx-27017");
        let server = Self { program, dir, port: free_port(), child: Mutex::new(None) };
        server.resume().await;
        Some(server)
    }

    /// `mongodb://` URL of the server (no database).
    pub fn url(&self) -> String {
        format!("mongodb://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL: an abrupt outage, connections just break) and waits for it.
    pub async fn stop(&self) {
        kill(&self.child).await;
    }

    /// Starts the (stopped) server again on the same port and files, and waits until it accepts
    /// connections.
    pub async fn resume(&self) {
        let child = Command::new(&self.program)
            .args(["--host", "127.0.0.1", "-p", &self.port.to_string(), "--data-dir"])
            .arg(self.dir.join("data"))
            .arg("--log-file")
            .arg(self.dir.join("nx-27017.log"))
            .arg("--pid-file")
            .arg(self.dir.join("nx-27017.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.program));
        *self.child.lock().unwrap() = Some(child);
        wait_for_port(self.port).await;
    }
}

impl Drop for PrivateMongo {
    fn drop(&mut self) {
        kill_now(&self.child);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Kills a server child and waits for it, off the async runtime.
async fn kill(child: &Mutex<Option<Child>>) {
    let child = child.lock().unwrap().take();
    if let Some(mut child) = child {
        blocking(move || {
            let _ = child.kill();
            child.wait().expect("wait for a test server to exit");
        })
        .await;
    }
}

/// [`kill`] for `Drop`, which cannot await.
fn kill_now(child: &Mutex<Option<Child>>) {
    if let Some(mut child) = child.lock().unwrap().take() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Waits until something accepts connections on the loopback `port`.
async fn wait_for_port(port: u16) {
    let deadline = Instant::now() + SERVER_TIMEOUT;
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "nothing listens on 127.0.0.1:{port} after {SERVER_TIMEOUT:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
