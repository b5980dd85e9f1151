//! The KMA open-API client: the village and mid-term forecasts over HTTPS, each answer folded per
//! day and cached per issue, behind a bounded timeout and a circuit breaker.
//!
//! The service key travels in the query string (`serviceKey`), so no request URL is ever logged
//! or put in an error: transport errors are stripped of theirs (`without_url`), and any text KMA
//! sends back has the key masked before it reaches an error message.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};
use couple_common::clock::Clock;
use moka::sync::Cache;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, de::DeserializeOwned};

use super::{
    fold::{self, DailyWeather, Region, VillageItem},
    grid::GridCell,
    schedule::Issue,
};

/// Rows asked per page; KMA pages longer answers (a village forecast is about 1,100 items).
const ROWS_PER_PAGE: u32 = 1000;
/// The most pages one village forecast may take: three days of every category fit in two.
const MAX_PAGES: u32 = 4;
/// A village issue is replaced three hours later and a mid-term one twelve hours later, so
/// cached answers are never stale: their issue is in the key. They are dropped once no request
/// can ask for them any more (the previous issue is asked for as a fallback).
const VILLAGE_TTL: Duration = Duration::from_secs(8 * 3600);
const MID_TTL: Duration = Duration::from_secs(30 * 3600);
/// Cells cached: the grid has about 38,000, of which a few thousand are on land.
const VILLAGE_CAPACITY: u64 = 20_000;
/// Longest message kept from text KMA sends back.
const MAX_MESSAGE_CHARS: usize = 120;

/// Why a KMA call failed. Every message is safe to log and to show: it never holds the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KmaError {
    /// No answer within the configured timeout.
    #[error("KMA did not answer within {0} ms")]
    Timeout(u64),
    /// The connection failed or broke.
    #[error("KMA could not be reached: {0}")]
    Unreachable(String),
    /// An HTTP error status.
    #[error("KMA answered HTTP {0}")]
    Status(u16),
    /// The portal's gateway refused the key: not registered, expired or not yet active.
    #[error("KMA refused the service key ({0}): check SCHEDULE_MEETING_WEATHER_API_KEY")]
    Key(String),
    /// The portal's gateway refused the request for another reason (quota, access).
    #[error("the KMA portal refused the request ({0})")]
    Refused(String),
    /// The service answered with an error `resultCode` (`03` `NODATA_ERROR`, `10`, `22`...).
    #[error("KMA answered resultCode {code} ({message})")]
    Result {
        /// `resultCode`.
        code: String,
        /// `resultMsg`.
        message: String,
    },
    /// The answer is not the documented JSON.
    #[error("KMA's answer could not be read: {0}")]
    Unreadable(String),
    /// The breaker is open after repeated failures: KMA is not asked until the cool-down ends.
    #[error("KMA failed {failures} times in a row (last: {last}); not asking again for {retry_in_secs} s")]
    CircuitOpen {
        /// Consecutive failures so far.
        failures: u32,
        /// The last failure's message.
        last: String,
        /// Seconds until KMA is tried again.
        retry_in_secs: u64,
    },
}

impl KmaError {
    /// `NODATA_ERROR`: the issue asked for is not (yet) published; an older one may be.
    pub fn is_no_data(&self) -> bool {
        matches!(self, KmaError::Result { code, .. } if code == "03")
    }
}

/// Consecutive-failure circuit breaker. After `threshold` failures in a row, calls fail at once
/// with [`KmaError::CircuitOpen`] for `cooldown` (timed by the service's clock); then calls go
/// through again, and one more failure opens it again while one success closes it. `NODATA` is
/// an answer, not a failure. A threshold of 0 turns the breaker off.
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: chrono::Duration,
    clock: Clock,
    state: Mutex<BreakerState>,
}

#[derive(Debug, Default)]
struct BreakerState {
    failures: u32,
    open_until: Option<DateTime<Utc>>,
    last: String,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(threshold: u32, cooldown: Duration, clock: Clock) -> Self {
        let cooldown = chrono::Duration::from_std(cooldown).unwrap_or(chrono::Duration::MAX);
        Self { threshold, cooldown, clock, state: Mutex::default() }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, BreakerState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Err` while the breaker is open.
    fn check(&self) -> Result<(), KmaError> {
        let state = self.state();
        let now = self.clock.now();
        match state.open_until {
            Some(until) if now < until => {
                // Whole seconds, rounded up: "0 s" would invite an immediate retry.
                let retry_in_secs = u64::try_from((until - now).num_milliseconds().saturating_add(999) / 1000).unwrap_or(1);
                Err(KmaError::CircuitOpen { failures: state.failures, last: state.last.clone(), retry_in_secs })
            }
            _ => Ok(()),
        }
    }

    fn record(&self, outcome: &Result<impl Sized, KmaError>) {
        let mut state = self.state();
        match outcome {
            Err(err) if !err.is_no_data() => {
                state.failures = state.failures.saturating_add(1);
                state.last = err.to_string();
                if self.threshold > 0 && state.failures >= self.threshold {
                    let until = self.clock.now() + self.cooldown;
                    if state.open_until.is_none_or(|open| open < until) {
                        tracing::warn!(failures = state.failures, last = %state.last, cooldown_secs = self.cooldown.num_seconds(), "KMA keeps failing: the weather circuit is open");
                    }
                    state.open_until = Some(until);
                }
            }
            _ => {
                state.failures = 0;
                state.open_until = None;
            }
        }
    }
}

/// The KMA forecast APIs for one service key.
pub struct KmaClient {
    http: reqwest::Client,
    base_url: String,
    key: SecretString,
    timeout: Duration,
    breaker: Breaker,
    village: Cache<(GridCell, Issue), Arc<DailyWeather>>,
    mid: Cache<(Region, Issue), Arc<DailyWeather>>,
}

impl std::fmt::Debug for KmaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmaClient").field("base_url", &self.base_url).field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

/// `response` of every KMA JSON answer.
#[derive(Deserialize)]
struct Envelope {
    response: Response,
}

#[derive(Deserialize)]
struct Response {
    header: Header,
    #[serde(default)]
    body: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Header {
    result_code: String,
    #[serde(default)]
    result_msg: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body<T> {
    items: Items<T>,
    #[serde(default)]
    total_count: Option<u32>,
}

#[derive(Deserialize)]
struct Items<T> {
    item: Vec<T>,
}

impl KmaClient {
    /// A client for the services under `base_url` (`https://apis.data.go.kr/1360000`). `key` is
    /// the portal's key in either form it hands out, decoded or URL-encoded.
    pub fn new(base_url: &str, key: &SecretString, timeout: Duration, breaker: Breaker) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(timeout).connect_timeout(timeout).build()?;
        let decoded = percent_encoding::percent_decode_str(key.expose_secret()).decode_utf8_lossy().into_owned();
        Ok(Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            key: SecretString::from(decoded),
            timeout,
            breaker,
            village: Cache::builder().max_capacity(VILLAGE_CAPACITY).time_to_live(VILLAGE_TTL).build(),
            mid: Cache::builder().max_capacity(64).time_to_live(MID_TTL).build(),
        })
    }

    /// The village forecast of `cell` made at `issue`, per day.
    #[tracing::instrument(skip_all, fields(nx = cell.nx, ny = cell.ny, base = %issue.tm_fc()))]
    pub async fn village(&self, cell: GridCell, issue: Issue) -> Result<Arc<DailyWeather>, KmaError> {
        if let Some(days) = self.village.get(&(cell, issue)) {
            return Ok(days);
        }
        let mut items: Vec<VillageItem> = Vec::new();
        for page in 1..=MAX_PAGES {
            let params = [
                ("pageNo", page.to_string()),
                ("numOfRows", ROWS_PER_PAGE.to_string()),
                ("dataType", "JSON".into()),
                ("base_date", issue.base_date()),
                ("base_time", issue.base_time()),
                ("nx", cell.nx.to_string()),
                ("ny", cell.ny.to_string()),
            ];
            let body: Body<VillageItem> = self.call("VilageFcstInfoService_2.0/getVilageFcst", &params).await?;
            let received = body.items.item.len();
            items.extend(body.items.item);
            let total = body.total_count.map_or(0, |n| n as usize);
            if received == 0 || items.len() >= total {
                break;
            }
        }
        let days = Arc::new(fold::fold_village(&items));
        self.village.insert((cell, issue), days.clone());
        Ok(days)
    }

    /// The mid-term land forecast of `region` issued at `issue`, per day.
    #[tracing::instrument(skip_all, fields(region = region.0, tm_fc = %issue.tm_fc()))]
    pub async fn mid(&self, region: Region, issue: Issue) -> Result<Arc<DailyWeather>, KmaError> {
        if let Some(days) = self.mid.get(&(region, issue)) {
            return Ok(days);
        }
        let params = [
            ("pageNo", "1".to_owned()),
            ("numOfRows", "10".into()),
            ("dataType", "JSON".into()),
            ("regId", region.0.into()),
            ("tmFc", issue.tm_fc()),
        ];
        let body: Body<serde_json::Map<String, serde_json::Value>> = self.call("MidFcstInfoService/getMidLandFcst", &params).await?;
        let item = body.items.item.into_iter().next().ok_or_else(|| KmaError::Unreadable("no forecast item".into()))?;
        let days = Arc::new(fold::fold_mid(issue.date, &item));
        self.mid.insert((region, issue), days.clone());
        Ok(days)
    }

    /// The mid-term forecast of `region` issued at `issue` if it is cached; KMA is not asked.
    pub fn cached_mid(&self, region: Region, issue: Issue) -> Option<Arc<DailyWeather>> {
        self.mid.get(&(region, issue))
    }

    /// One call through the breaker.
    async fn call<T: DeserializeOwned>(&self, operation: &str, params: &[(&str, String)]) -> Result<Body<T>, KmaError> {
        self.breaker.check()?;
        let outcome = self.request(operation, params).await;
        self.breaker.record(&outcome);
        outcome
    }

    async fn request<T: DeserializeOwned>(&self, operation: &str, params: &[(&str, String)]) -> Result<Body<T>, KmaError> {
        let url = format!("{}/{operation}", self.base_url);
        let sent = self.http.get(url).query(&[("serviceKey", self.key.expose_secret())]).query(params).send().await;
        let response = sent.map_err(|e| self.transport_error(e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(KmaError::Status(status.as_u16()));
        }
        let bytes = response.bytes().await.map_err(|e| self.transport_error(e))?;
        self.parse(&bytes)
    }

    /// Reads an answer: the JSON asked for, or the XML the gateway sends whatever was asked.
    fn parse<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<Body<T>, KmaError> {
        let text = String::from_utf8_lossy(bytes);
        if text.trim_start().starts_with('<') {
            return Err(self.xml_error(&text));
        }
        let envelope: Envelope = serde_json::from_slice(bytes).map_err(|e| self.unreadable(&e))?;
        let Header { result_code, result_msg } = envelope.response.header;
        if result_code != "00" {
            return Err(KmaError::Result { code: self.clean(&result_code), message: self.clean(&result_msg) });
        }
        let body = envelope.response.body.ok_or_else(|| KmaError::Unreadable("no body".into()))?;
        serde_json::from_value(body).map_err(|e| self.unreadable(&e))
    }

    /// serde's message without its " at line 1 column 42", which means nothing to a client.
    fn unreadable(&self, err: &serde_json::Error) -> KmaError {
        let message = err.to_string();
        let message = message.split(" at line ").next().unwrap_or_default();
        KmaError::Unreadable(self.clean(message))
    }

    /// The error an XML answer reports: the gateway's `returnAuthMsg` (a bad key says
    /// `SERVICE_KEY_IS_NOT_REGISTERED_ERROR`), or the service's own `resultCode`.
    fn xml_error(&self, xml: &str) -> KmaError {
        if let Some(reason) = xml_text(xml, "returnAuthMsg") {
            let reason = self.clean(reason);
            // 30: not registered, 31: expired, 32: IP not registered; the message names them.
            if reason.contains("KEY") || matches!(xml_text(xml, "returnReasonCode"), Some("30" | "31")) {
                return KmaError::Key(reason);
            }
            return KmaError::Refused(reason);
        }
        if let Some(code) = xml_text(xml, "resultCode") {
            let message = xml_text(xml, "resultMsg").unwrap_or_default();
            if code != "00" {
                return KmaError::Result { code: self.clean(code), message: self.clean(message) };
            }
        }
        KmaError::Unreadable("an XML document instead of JSON".into())
    }

    /// A transport error's message, without the URL (which holds the key).
    fn transport_error(&self, err: reqwest::Error) -> KmaError {
        if err.is_timeout() {
            return KmaError::Timeout(u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX));
        }
        let err = err.without_url();
        let mut message = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        KmaError::Unreachable(self.clean(&message))
    }

    /// Text fit for an error message: the key masked in both its forms (a server may echo it),
    /// control characters dropped, and short.
    fn clean(&self, text: &str) -> String {
        let key = self.key.expose_secret();
        let mut text = text.to_owned();
        if !key.is_empty() {
            let encoded: String = url_encoded(key);
            text = text.replace(key, "***").replace(&encoded, "***");
        }
        text.chars().filter(|c| !c.is_control()).take(MAX_MESSAGE_CHARS).collect()
    }
}

/// `key` as it appears in a query string.
fn url_encoded(key: &str) -> String {
    percent_encoding::utf8_percent_encode(key, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The text of the first `<tag>...</tag>` in `xml` (the gateway's documents are flat and
/// unescaped, so no XML parser is needed to read three fields).
fn xml_text<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let start = xml.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = xml[start..].find(&format!("</{tag}>"))?;
    Some(xml[start..start + end].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(key: &str) -> KmaClient {
        let breaker = Breaker::new(2, Duration::from_secs(30), Clock::manual(Utc::now()));
        KmaClient::new("http://127.0.0.1:9/", &SecretString::from(key.to_owned()), Duration::from_secs(1), breaker).unwrap()
    }

    #[test]
    fn the_gateways_xml_names_a_bad_key() {
        let kma = client("k3y");
        let xml = "<OpenAPI_ServiceResponse><cmmMsgHeader><errMsg>SERVICE ERROR</errMsg><returnAuthMsg>SERVICE_KEY_IS_NOT_REGISTERED_ERROR</returnAuthMsg><returnReasonCode>30</returnReasonCode></cmmMsgHeader></OpenAPI_ServiceResponse>";
        let err = kma.parse::<VillageItem>(xml.as_bytes()).err().unwrap();
        assert_eq!(err, KmaError::Key("SERVICE_KEY_IS_NOT_REGISTERED_ERROR".into()));
        let quota =
            xml.replace("SERVICE_KEY_IS_NOT_REGISTERED_ERROR", "LIMITED_NUMBER_OF_SERVICE_REQUESTS_EXCEEDS_ERROR").replace(">30<", ">22<");
        assert_eq!(
            kma.parse::<VillageItem>(quota.as_bytes()).err().unwrap(),
            KmaError::Refused("LIMITED_NUMBER_OF_SERVICE_REQUESTS_EXCEEDS_ERROR".into())
        );
        let service = "<response><header><resultCode>03</resultCode><resultMsg>NODATA_ERROR</resultMsg></header></response>";
        assert!(kma.parse::<VillageItem>(service.as_bytes()).err().unwrap().is_no_data());
        assert!(matches!(kma.parse::<VillageItem>(b"<html>busy</html>").err().unwrap(), KmaError::Unreadable(_)));
    }

    #[test]
    fn json_errors_and_bodies_are_told_apart() {
        let kma = client("k3y");
        let nodata = br#"{"response":{"header":{"resultCode":"03","resultMsg":"NODATA_ERROR"}}}"#;
        assert!(kma.parse::<VillageItem>(nodata).err().unwrap().is_no_data());
        assert!(matches!(kma.parse::<VillageItem>(b"{\"response\":").err().unwrap(), KmaError::Unreadable(_)));
        let ok = br#"{"response":{"header":{"resultCode":"00","resultMsg":"NORMAL_SERVICE"},"body":{"items":{"item":[{"category":"SKY","fcstDate":"20261202","fcstTime":"0600","fcstValue":"1"}]},"totalCount":1}}}"#;
        let body = kma.parse::<VillageItem>(ok).unwrap();
        assert_eq!((body.items.item.len(), body.total_count), (1, Some(1)));
    }

    #[test]
    fn messages_never_carry_the_key_in_either_form() {
        let kma = client("a+b/c==");
        let echo = br#"{"response":{"header":{"resultCode":"10","resultMsg":"bad serviceKey a+b/c== (a%2Bb%2Fc%3D%3D)"}}}"#;
        let message = kma.parse::<VillageItem>(echo).err().unwrap().to_string();
        assert!(!message.contains("a+b/c==") && !message.contains("a%2Bb%2Fc%3D%3D"), "{message}");
        assert!(message.contains("***"), "{message}");
        // The portal's URL-encoded key is decoded once, so the query holds it encoded once.
        assert_eq!(client("a%2Bb%2Fc%3D%3D").key.expose_secret(), "a+b/c==");
    }

    #[test]
    fn the_breaker_opens_after_the_threshold_and_closes_after_the_cooldown() {
        let clock = Clock::manual(Utc::now());
        let breaker = Breaker::new(2, Duration::from_secs(30), clock.clone());
        let failure: Result<(), KmaError> = Err(KmaError::Status(502));
        let nodata: Result<(), KmaError> = Err(KmaError::Result { code: "03".into(), message: "NODATA_ERROR".into() });
        breaker.record(&failure);
        breaker.record(&nodata);
        breaker.record(&Ok(()));
        breaker.record(&failure);
        assert!(breaker.check().is_ok(), "a success resets the count, NODATA is no failure");
        breaker.record(&failure);
        let open = breaker.check().unwrap_err();
        assert_eq!(open, KmaError::CircuitOpen { failures: 2, last: "KMA answered HTTP 502".into(), retry_in_secs: 30 });
        clock.set(clock.now() + chrono::Duration::seconds(30));
        assert!(breaker.check().is_ok(), "half open after the cool-down");
        breaker.record(&failure);
        assert!(breaker.check().is_err(), "one more failure opens it again");
        clock.set(clock.now() + chrono::Duration::seconds(31));
        breaker.record(&Ok(()));
        assert!(breaker.check().is_ok());
        let off = Breaker::new(0, Duration::from_secs(30), clock);
        (0..10).for_each(|_| off.record(&failure));
        assert!(off.check().is_ok(), "0 turns it off");
    }
}
