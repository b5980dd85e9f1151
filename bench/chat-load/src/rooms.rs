//! Where the rooms and the partners' identities come from: couples signed up and paired through
//! our gateway (their default rooms), or rooms created over the original's REST API (identities
//! made up, since it trusts whatever `X-User-ID` it is given).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use futures_util::{StreamExt, TryStreamExt, stream};
use reqwest::{Client, Method};
use serde_json::{Value, json};

/// One partner's identity on the socket.
#[derive(Debug, Clone)]
pub struct Identity {
    /// A bearer token (our platform); `None` for the original.
    pub token: Option<String>,
    pub user_id: String,
    pub nickname: String,
}

/// A room and its two partners.
#[derive(Debug, Clone)]
pub struct Room {
    pub id: String,
    pub partners: [Identity; 2],
}

#[derive(clap::Args)]
pub struct AccountsArgs {
    /// The gateway's base URL, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    api: String,
    /// Couples to make (one room each).
    #[arg(long)]
    couples: usize,
    /// Where to write the tokens.
    #[arg(long)]
    out: PathBuf,
    /// Couples made at once. Each costs four Argon2 hashes (two sign-ups, two logins), which
    /// user-couple runs on a bounded pool: more at once only queues there.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
}

/// Signs up and pairs `couples` couples; writes both partners' tokens, each carrying the couple.
pub async fn accounts(args: AccountsArgs) -> Result<()> {
    let client = Client::new();
    let run = short_id();
    let api = args.api.trim_end_matches('/');
    let started = std::time::Instant::now();
    let couples: Vec<[String; 2]> =
        stream::iter(0..args.couples).map(|i| make_couple(&client, api, &run, i)).buffered(args.concurrency.max(1)).try_collect().await?;
    std::fs::write(&args.out, serde_json::to_vec(&couples)?).with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!("chat-load: {} couples signed up and paired in {:.1} s", couples.len(), started.elapsed().as_secs_f64());
    Ok(())
}

/// Both partners sign up and log in; A makes a match code, B accepts it (B's new token carries
/// the couple), and A refreshes to get a token that carries it too.
async fn make_couple(client: &Client, api: &str, run: &str, i: usize) -> Result<[String; 2]> {
    let password = "bench-password-1";
    let [a, b] = ["a", "b"].map(|side| format!("chat-{run}-{i}{side}@example.com"));
    let signup = |email: &str, gender: &str| {
        let body = json!({"email": email, "password": password, "name": format!("Chat {i}"), "gender": gender, "birth": "1990-01-01"});
        call(client, Method::POST, format!("{api}/api/users/signup"), None, body, 201)
    };
    tokio::try_join!(signup(&a, "F"), signup(&b, "M"))?;
    let login = |email: &str| {
        call(client, Method::POST, format!("{api}/api/users/login"), None, json!({"email": email, "password": password}), 200)
    };
    let (la, lb) = tokio::try_join!(login(&a), login(&b))?;
    let match_code = call(
        client,
        Method::POST,
        format!("{api}/api/couples/match"),
        Some(text(&la, "accessToken")?),
        json!({"name": format!("chat {i}")}),
        200,
    )
    .await?;
    let accepted = call(
        client,
        Method::POST,
        format!("{api}/api/couples/match/accept"),
        Some(text(&lb, "accessToken")?),
        json!({"matchingCode": text(&match_code, "matchCode")?}),
        200,
    )
    .await?;
    let refreshed = call(
        client,
        Method::POST,
        format!("{api}/api/users/token/refresh"),
        None,
        json!({"refreshToken": text(&la, "refreshToken")?}),
        200,
    )
    .await?;
    Ok([text(&refreshed, "accessToken")?.to_owned(), text(&accepted, "accessToken")?.to_owned()])
}

/// Our couples' default rooms: each couple's first partner lists its rooms (the default one is
/// created on first use, and comes first).
pub async fn platform_rooms(api: &str, accounts: &std::path::Path, rooms: usize) -> Result<Vec<Room>> {
    let couples: Vec<[String; 2]> =
        serde_json::from_slice(&std::fs::read(accounts).with_context(|| format!("reading {}", accounts.display()))?)
            .context("accounts file: expected [[tokenA, tokenB], ...]")?;
    if couples.len() < rooms {
        bail!("{} holds {} couples; {rooms} rooms need as many", accounts.display(), couples.len());
    }
    let client = Client::new();
    let api = api.trim_end_matches('/');
    stream::iter(couples.into_iter().take(rooms).enumerate())
        .map(|(i, [a, b])| {
            let client = &client;
            async move {
                let listed = call(client, Method::GET, format!("{api}/api/chat/rooms/"), Some(&a), Value::Null, 200).await?;
                let list = listed.as_array().or_else(|| listed["items"].as_array()).context("GET /api/chat/rooms/: no list")?;
                let room = list.iter().find(|r| r["isDefault"] == true).or(list.first()).context("GET /api/chat/rooms/: no room")?;
                let id = id_text(&room["id"]).context("GET /api/chat/rooms/: a room without an id")?;
                let partner = |token: String, side: &str| Identity {
                    token: Some(token),
                    user_id: format!("{i}{side}"),
                    nickname: format!("c{i}{side}"),
                };
                Ok(Room { id, partners: [partner(a, "a"), partner(b, "b")] })
            }
        })
        .buffered(16)
        .try_collect()
        .await
}

/// Rooms created over a REST API that answers `POST {"name"}` with the room (`id` at the top or
/// in `data`), as the original's `POST /api/chat/rooms/` does.
pub async fn rest_rooms(rooms_url: &str, rooms: usize) -> Result<Vec<Room>> {
    let client = Client::new();
    let run = short_id();
    stream::iter(0..rooms)
        .map(|i| {
            let (client, run) = (&client, &run);
            async move {
                let created = client
                    .post(rooms_url)
                    .json(&json!({"name": format!("bench {run} {i}")}))
                    .send()
                    .await
                    .with_context(|| format!("POST {rooms_url}"))?;
                let status = created.status();
                let body: Value = created.json().await.unwrap_or(Value::Null);
                if !status.is_success() {
                    bail!("POST {rooms_url}: {status}: {body}");
                }
                let id = id_text(&body["id"])
                    .or_else(|| id_text(&body["data"]["id"]))
                    .with_context(|| format!("POST {rooms_url}: no id in {body}"))?;
                let partner = |side: &str| Identity { token: None, user_id: format!("{run}{i}{side}"), nickname: format!("u{i}{side}") };
                Ok(Room { id, partners: [partner("a"), partner("b")] })
            }
        })
        .buffered(16)
        .try_collect()
        .await
}

/// One JSON call; the envelope's `data` when the status is the expected one.
async fn call(client: &Client, method: Method, url: String, token: Option<&str>, body: Value, expect: u16) -> Result<Value> {
    let mut request = client.request(method.clone(), &url);
    if !body.is_null() {
        request = request.json(&body);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.with_context(|| format!("{method} {url}"))?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status.as_u16() != expect {
        bail!("{method} {url}: expected {expect}, got {status}: {body}");
    }
    Ok(body["data"].clone())
}

fn text<'a>(data: &'a Value, field: &str) -> Result<&'a str> {
    data[field].as_str().with_context(|| format!("no `{field}` in {data}"))
}

/// A string or numeric id as text (ours are UUIDs, the original's integers).
fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Six hex digits: keeps one run's emails and message ids apart from another's.
pub fn short_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..6].to_owned()
}
