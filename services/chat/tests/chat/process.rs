//! The real binary, as an operator runs it: two `chat serve` processes on one PostgreSQL and one
//! Redis deliver each other's messages in order and a client of a replica killed with SIGKILL
//! resumes on the other; SIGTERM closes sockets with 1001 and the process exits 0, and a
//! conversation across that restart loses and repeats nothing.

use std::{
    collections::BTreeSet,
    process::{Child, Command, ExitStatus},
    time::Duration,
};

use couple_common::test_util::{self, Backend, TEST_INTERNAL_TOKEN, TEST_JWT_SECRET, TestDatabase, TestUser, test_couple};
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use rstest::rstest;
use serde_json::{Value, json};
use tokio::time::{Instant, sleep, timeout};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use crate::socket::{Socket, WAIT, connect, converse_across_a_restart, default_room, next, ready, say};

/// `COUPLE_SHUTDOWN_GRACE_SECS` of the processes: how long connections may drain after SIGTERM.
const GRACE: Duration = Duration::from_secs(10);
/// How soon after SIGTERM a socket must get its 1001: well within [`GRACE`], since closing
/// sockets is the first thing a stopping process does.
const GOING_AWAY_WITHIN: Duration = Duration::from_secs(5);
/// How long a process may take to start and answer `/readyz` (migrations included).
const START_WITHIN: Duration = Duration::from_secs(30);

/// A `chat serve` process on a free loopback port, killed when dropped, so a failing test leaves
/// nothing running.
struct Process {
    child: Child,
    base: String,
}

impl Process {
    /// Starts the binary on `database_url`, fanning out through Redis when `redis` (URL, prefix)
    /// is given, and waits until it is ready.
    async fn start(database_url: &str, redis: Option<(&str, &str)>) -> Self {
        let port = test_util::free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_chat"));
        // Only what the test sets: nothing from the machine's environment.
        for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("CHAT_") || name.starts_with("COUPLE_")) {
            command.env_remove(name);
        }
        command
            .arg("serve")
            .env("CHAT_HOST", "127.0.0.1")
            .env("CHAT_PORT", port.to_string())
            .env("CHAT_ADMIN_PORT", "0")
            .env("CHAT_DATABASE_URL", database_url)
            // Nicknames: no user-couple here, refused at once.
            .env("CHAT_USER_COUPLE_URL", "http://127.0.0.1:1")
            .env("COUPLE_JWT_SECRET", TEST_JWT_SECRET)
            .env("COUPLE_INTERNAL_TOKEN", TEST_INTERNAL_TOKEN)
            .env("COUPLE_SHUTDOWN_GRACE_SECS", GRACE.as_secs().to_string())
            .env("COUPLE_LOG_FORMAT", "text");
        if let Some((url, prefix)) = redis {
            command.env("CHAT_REDIS_URL", url).env("CHAT_REDIS_PREFIX", prefix);
        }
        let child = command.spawn().expect("the chat binary starts");
        let mut process = Self { child, base: format!("http://127.0.0.1:{port}") };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + START_WITHIN;
        loop {
            if let Some(status) = process.child.try_wait().unwrap() {
                panic!("chat exited before it was ready: {status} (its log is above)");
            }
            let ready = http.get(format!("{}/readyz", process.base)).send().await;
            if ready.is_ok_and(|res| res.status() == StatusCode::OK) {
                return process;
            }
            assert!(Instant::now() < deadline, "chat was not ready within {START_WITHIN:?}");
            sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: the process ends at once, its sockets break without a close frame.
    fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("the killed process is reaped");
    }

    /// Sends SIGTERM.
    fn terminate(&self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("kill runs");
        assert!(status.success(), "kill -TERM: {status}");
    }

    /// Waits for the process to exit, at most `within`.
    async fn exited(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "chat still running {within:?} after it was told to stop");
            sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.child.try_wait().is_ok_and(|status| status.is_none()) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The message frames a socket gets until its connection ends, however it ends (a killed
/// process sends no close frame).
async fn until_broken(socket: &mut Socket) -> Vec<Value> {
    let mut messages = Vec::new();
    loop {
        match timeout(WAIT, socket.next()).await.expect("the connection ends in time") {
            Some(Ok(Message::Text(text))) => {
                let frame: Value = serde_json::from_str(text.as_str()).unwrap();
                if frame["type"] == "chat.message" {
                    messages.push(frame);
                }
            }
            Some(Ok(Message::Close(frame))) => panic!("a killed process sent a close frame: {frame:?}"),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return messages,
        }
    }
}

/// The next `count` message frames.
async fn messages(socket: &mut Socket, count: usize) -> Vec<Value> {
    let mut messages = Vec::new();
    while messages.len() < count {
        let frame = next(socket).await.unwrap_or_else(|code| panic!("closed with {code:?}"));
        if frame["type"] == "chat.message" {
            messages.push(frame);
        }
    }
    messages
}

/// Sends a message and waits for its echo (the acknowledgement); every message frame received
/// meanwhile, the echo last.
async fn say_acknowledged(socket: &mut Socket, client_id: &str) -> Vec<Value> {
    say(socket, &format!("text of {client_id}"), client_id).await;
    let mut received = Vec::new();
    loop {
        let frame = messages(socket, 1).await.remove(0);
        let echo = frame["clientId"] == json!(client_id);
        received.push(frame);
        if echo {
            return received;
        }
    }
}

fn seqs(messages: &[Value]) -> Vec<i64> {
    messages.iter().map(|m| m["seq"].as_i64().unwrap()).collect()
}

fn ids(messages: &[Value]) -> Vec<&str> {
    messages.iter().map(|m| m["id"].as_str().unwrap()).collect()
}

fn client_ids(messages: &[Value], prefix: &str) -> Vec<String> {
    messages.iter().filter_map(|m| m["clientId"].as_str()).filter(|id| id.starts_with(prefix)).map(str::to_owned).collect()
}

/// The ids of `who`'s first `count` messages of `round`, in sending order.
fn sent(who: &str, round: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{who}-{round}-{i:02}")).collect()
}

/// The room's stored messages, oldest first.
async fn history(base: &str, room: Uuid, user: &TestUser) -> Vec<Value> {
    let path = format!("/api/chat/rooms/{room}/messages/?limit=200");
    let (status, body) = test_util::call(&reqwest::Client::new(), base, Method::GET, &path, Some(&user.token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_deliver_each_others_messages_in_order_and_a_client_of_a_killed_one_resumes_on_the_other() {
    let Some(redis) = test_util::redis_url() else { return };
    let Some(db) = TestDatabase::postgres().await else { return };
    let prefix = test_util::redis_prefix();
    let (mut one, two) = tokio::join!(Process::start(db.url(), Some((&redis, &prefix))), Process::start(db.url(), Some((&redis, &prefix))));
    let (alice, bob, _) = test_couple();
    let room = default_room(&one.base, &alice).await;
    let mut on_one = connect(&one.base, room, &alice, None).await;
    assert_eq!(ready(&mut on_one).await, Vec::<Value>::new());
    let mut on_two = connect(&two.base, room, &bob, None).await;
    ready(&mut on_two).await;

    // Interleaved: each process commits its own while the other's come through Redis.
    for i in 0..30 {
        say(&mut on_one, "from one", &format!("a-1-{i:02}")).await;
        say(&mut on_two, "from two", &format!("b-1-{i:02}")).await;
    }
    let (seen_on_one, seen_on_two) = (messages(&mut on_one, 60).await, messages(&mut on_two, 60).await);
    assert_eq!(seqs(&seen_on_one), (1..=60).collect::<Vec<_>>(), "process one's socket: every seq once, in order");
    assert_eq!(seen_on_one, seen_on_two, "process two's socket got the same messages in the same order");
    assert_eq!(client_ids(&seen_on_one, "a-"), sent("a", "1", 30), "alice's messages in the order she sent them");
    assert_eq!(client_ids(&seen_on_one, "b-"), sent("b", "1", 30), "bob's messages in the order he sent them");

    // Both go on talking, each waiting for the echo; process one is killed after alice's tenth
    // acknowledgement, with her eleventh sent and not yet acknowledged.
    let bob_talks = tokio::spawn(async move {
        let mut seen = Vec::new();
        for id in sent("b", "2", 20) {
            seen.extend(say_acknowledged(&mut on_two, &id).await);
            sleep(Duration::from_millis(25)).await;
        }
        (on_two, seen)
    });
    let mut alice_saw = seen_on_one;
    let mut acknowledged: BTreeSet<String> = sent("a", "1", 30).into_iter().chain(sent("b", "1", 30)).collect();
    let alice_round = sent("a", "2", 15);
    for id in &alice_round[..10] {
        alice_saw.extend(say_acknowledged(&mut on_one, id).await);
        acknowledged.insert(id.clone());
    }
    say(&mut on_one, "the last word", &alice_round[10]).await;
    one.kill();
    alice_saw.extend(until_broken(&mut on_one).await);
    let (mut on_two, bob_saw) = timeout(Duration::from_secs(60), bob_talks).await.expect("bob's round ends").unwrap();
    acknowledged.extend(client_ids(&bob_saw, "b-2-"));
    assert_eq!(client_ids(&bob_saw, "b-2-"), sent("b", "2", 20), "every one of bob's was acknowledged on process two");
    // And while she is away, over REST on process two.
    for id in sent("b", "3", 5) {
        let body = json!({"roomId": room, "message": "while away", "clientId": id});
        let (status, body) =
            test_util::call(&reqwest::Client::new(), &two.base, Method::POST, "/api/chat/messages/", Some(&bob.token), Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        acknowledged.insert(id);
    }

    // Alice resumes on process two after the last message she saw, and sends again what was not
    // acknowledged, with the same clientId; then the rest of her round.
    let last_seen = alice_saw.last().unwrap().clone();
    let mut resumed = connect(&two.base, room, &alice, last_seen["id"].as_str()).await;
    let caught_up = ready(&mut resumed).await;
    let stored = history(&two.base, room, &alice).await;
    let after = last_seen["seq"].as_i64().unwrap();
    assert_eq!(seqs(&caught_up), ((after + 1)..=stored.len() as i64).collect::<Vec<_>>(), "everything she missed, once, in order");
    assert_eq!(ids(&caught_up), ids(&stored[after as usize..]), "the stored messages");
    assert!(sent("b", "3", 5).iter().all(|id| client_ids(&caught_up, "b-3-").contains(id)), "those posted while she was away too");
    alice_saw.extend(caught_up);
    for id in &alice_round[10..] {
        alice_saw.extend(say_acknowledged(&mut resumed, id).await);
        acknowledged.insert(id.clone());
    }

    let stored = history(&two.base, room, &alice).await;
    let stored_ids: Vec<String> = client_ids(&stored, "");
    assert_eq!(seqs(&stored), (1..=stored.len() as i64).collect::<Vec<_>>(), "gap-free seqs");
    assert_eq!(stored_ids.len(), stored.len(), "every message has its clientId");
    assert_eq!(stored_ids.iter().collect::<BTreeSet<_>>().len(), stored.len(), "no clientId stored twice: {stored_ids:?}");
    assert_eq!(stored_ids.iter().cloned().collect::<BTreeSet<_>>(), acknowledged, "every acknowledged message stored once, nothing else");
    assert_eq!(client_ids(&stored, "a-2-"), alice_round, "alice's in her order, the resent one once");
    // Alice saw every message once in order; the one repeat allowed is the answer to her resend.
    let mut alice_seqs: Vec<i64> = Vec::new();
    for frame in &alice_saw {
        let seq = frame["seq"].as_i64().unwrap();
        if alice_seqs.last().is_some_and(|last| seq <= *last) {
            assert_eq!(frame["clientId"], json!(alice_round[10]), "only her resend comes back again: {frame}");
            continue;
        }
        alice_seqs.push(seq);
    }
    assert_eq!(alice_seqs, seqs(&stored), "alice: every message once, in order");
    // Bob, who never moved, got every message live, the killed process's last ones included.
    let mut bob_all = seen_on_two;
    bob_all.extend(bob_saw);
    let rest = stored.len().checked_sub(bob_all.len()).unwrap_or_else(|| panic!("bob got more than was stored: {bob_all:?}"));
    bob_all.extend(messages(&mut on_two, rest).await);
    assert_eq!(seqs(&bob_all), seqs(&stored), "bob: every message once, in order");
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_sockets_with_1001_exits_0_and_a_conversation_across_the_restart_loses_and_repeats_nothing(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some(db) = TestDatabase::create(backend).await else { return };
    let mut first = Process::start(db.url(), None).await;
    let mut second = None;
    let mut terminated = None;
    let chatters = converse_across_a_restart(&first.base.clone(), async || {
        first.terminate();
        let at = *terminated.insert(Instant::now());
        let status = first.exited(GRACE + GOING_AWAY_WITHIN).await;
        assert_eq!(status.code(), Some(0), "a stop on SIGTERM is a clean exit: {status}");
        assert!(at.elapsed() < GRACE, "exited within the grace period: {:?}", at.elapsed());
        second.insert(Process::start(db.url(), None).await).base.clone()
    })
    .await;
    let terminated = terminated.expect("the first process was stopped");
    for chatter in &chatters {
        let (_, closed) = chatter.closes[0];
        let took = closed.saturating_duration_since(terminated);
        assert!(took < GOING_AWAY_WITHIN, "1001 came {took:?} after SIGTERM");
    }
}
