//! A stand-in for the KMA open API (`/1360000/...`) on a free port: the village and mid-term
//! forecasts in the documented JSON shapes, paged as KMA pages them, with the portal's XML for an
//! unknown key, `NODATA` for an issue it does not have, and the failures a test asks for. It
//! records every request's query so tests can see what was asked and how often.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use chrono::NaiveDate;
use couple_common::test_util::TestServer;
use serde_json::{Value, json};

/// The key the stand-in accepts (decoded; the portal's "encoding" form is its URL-encoding).
pub const KEY: &str = "Tst+Key/0123456789abcdefXYZ==";

/// The portal's answer to an unregistered key.
pub const BAD_KEY_XML: &str = "<OpenAPI_ServiceResponse><cmmMsgHeader><errMsg>SERVICE ERROR</errMsg><returnAuthMsg>SERVICE_KEY_IS_NOT_REGISTERED_ERROR</returnAuthMsg><returnReasonCode>30</returnReasonCode></cmmMsgHeader></OpenAPI_ServiceResponse>";

/// The two operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `VilageFcstInfoService_2.0/getVilageFcst`.
    Village,
    /// `MidFcstInfoService/getMidLandFcst`.
    Mid,
}

/// A failure to answer with instead of the forecast.
#[derive(Debug, Clone)]
pub enum Fault {
    /// The portal's XML for an unregistered key (HTTP 200, as the portal sends it).
    BadKey,
    /// A JSON header with this `resultCode` and `resultMsg`.
    ResultCode(&'static str, &'static str),
    /// An HTTP error status with an HTML page.
    Status(u16),
    /// A body that is not JSON.
    Garbage,
    /// The forecast, after this long.
    Slow(Duration),
    /// resultCode 10 with a message echoing the key, raw and URL-encoded.
    EchoKey,
}

/// Hourly `(PTY, SKY)` of one day, 00 to 23.
pub type Hours = [(u8, u8); 24];

/// A day with no precipitation and the sky `sky` every hour.
pub fn hours(sky: u8) -> Hours {
    [(0, sky); 24]
}

#[derive(Default)]
struct Data {
    /// Village forecasts by `(base_date, base_time)`: the days they cover.
    village: HashMap<(String, String), Vec<(NaiveDate, Hours)>>,
    /// Mid-term items by `tmFc`.
    mid: HashMap<String, Value>,
    faults: HashMap<Op, Fault>,
    requests: Vec<(Op, BTreeMap<String, String>)>,
}

/// The stand-in, serving until dropped.
pub struct Kma {
    server: TestServer,
    data: Arc<Mutex<Data>>,
}

impl Kma {
    /// A stand-in with no forecasts (everything is `NODATA`).
    pub async fn start() -> Self {
        let data = Arc::new(Mutex::new(Data::default()));
        let api = Router::new()
            .route("/1360000/VilageFcstInfoService_2.0/getVilageFcst", get(village))
            .route("/1360000/MidFcstInfoService/getMidLandFcst", get(mid))
            .with_state(data.clone());
        Self { server: TestServer::start(api).await, data }
    }

    /// The base URL to configure, as the real one: `.../1360000`.
    pub fn url(&self) -> String {
        self.server.url("/1360000")
    }

    fn data(&self) -> std::sync::MutexGuard<'_, Data> {
        self.data.lock().unwrap()
    }

    /// Publishes the village forecast issued at `base_date` `base_time` (`"20261202"`, `"0200"`),
    /// covering `days` (only the hours after the issue are sent).
    pub fn village(&self, base_date: &str, base_time: &str, days: Vec<(NaiveDate, Hours)>) {
        self.data().village.insert((base_date.into(), base_time.into()), days);
    }

    /// Publishes the mid-term item issued at `tm_fc` (`"202612011800"`).
    pub fn mid(&self, tm_fc: &str, item: Value) {
        self.data().mid.insert(tm_fc.into(), item);
    }

    /// Answers `op` with `fault` from now on.
    pub fn fail(&self, op: Op, fault: Fault) {
        self.data().faults.insert(op, fault);
    }

    /// Answers normally again.
    pub fn heal(&self) {
        self.data().faults.clear();
    }

    /// Every request so far: the operation and its query.
    pub fn requests(&self) -> Vec<(Op, BTreeMap<String, String>)> {
        self.data().requests.clone()
    }

    /// How many requests so far.
    pub fn count(&self) -> usize {
        self.data().requests.len()
    }
}

/// The categories of one forecast hour, in KMA's order.
const CATEGORIES: [&str; 12] = ["TMP", "UUU", "VVV", "VEC", "WSD", "SKY", "PTY", "POP", "WAV", "PCP", "REH", "SNO"];

async fn village(State(data): State<Arc<Mutex<Data>>>, Query(query): Query<BTreeMap<String, String>>) -> Response {
    let (fault, days) = {
        let mut data = data.lock().unwrap();
        data.requests.push((Op::Village, query.clone()));
        let key = (query.get("base_date").cloned().unwrap_or_default(), query.get("base_time").cloned().unwrap_or_default());
        (data.faults.get(&Op::Village).cloned(), data.village.get(&key).cloned())
    };
    if let Some(response) = failure(fault, &query).await {
        return response;
    }
    let Some(days) = days else { return result_code("03", "NODATA_ERROR") };
    let param = |name: &str| query.get(name).cloned().unwrap_or_default();
    let (base_date, base_time) = (param("base_date"), param("base_time"));
    let issued = (NaiveDate::parse_from_str(&base_date, "%Y%m%d").unwrap(), base_time[..2].parse::<usize>().unwrap());
    let (nx, ny) = (param("nx").parse::<i64>().unwrap(), param("ny").parse::<i64>().unwrap());
    let mut items = Vec::new();
    for (date, hours) in days {
        for (hour, &(pty, sky)) in hours.iter().enumerate() {
            if (date, hour) <= issued {
                continue;
            }
            for category in CATEGORIES {
                let value = match category {
                    "PTY" => pty.to_string(),
                    "SKY" => sky.to_string(),
                    "PCP" if pty == 0 => "강수없음".into(),
                    "PCP" => "1.0mm".into(),
                    "SNO" => "적설없음".into(),
                    "POP" => if pty == 0 { "20" } else { "80" }.into(),
                    _ => "3".into(),
                };
                items.push(json!({"baseDate": base_date, "baseTime": base_time, "category": category,
                    "fcstDate": date.format("%Y%m%d").to_string(), "fcstTime": format!("{hour:02}00"), "fcstValue": value, "nx": nx, "ny": ny}));
            }
        }
    }
    let page: usize = param("pageNo").parse().unwrap_or(1);
    let rows: usize = param("numOfRows").parse().unwrap_or(10);
    let total = items.len();
    let slice: Vec<Value> = items.into_iter().skip((page - 1) * rows).take(rows).collect();
    normal(slice, page, rows, total)
}

async fn mid(State(data): State<Arc<Mutex<Data>>>, Query(query): Query<BTreeMap<String, String>>) -> Response {
    let (fault, item) = {
        let mut data = data.lock().unwrap();
        data.requests.push((Op::Mid, query.clone()));
        let tm_fc = query.get("tmFc").cloned().unwrap_or_default();
        (data.faults.get(&Op::Mid).cloned(), data.mid.get(&tm_fc).cloned())
    };
    if let Some(response) = failure(fault, &query).await {
        return response;
    }
    match item {
        Some(item) => normal(vec![item], 1, 10, 1),
        None => result_code("03", "NODATA_ERROR"),
    }
}

/// The answer to a request with the wrong key or a fault; `None` to answer normally.
async fn failure(fault: Option<Fault>, query: &BTreeMap<String, String>) -> Option<Response> {
    if query.get("serviceKey").map(String::as_str) != Some(KEY) {
        return Some(BAD_KEY_XML.into_response());
    }
    match fault? {
        Fault::BadKey => Some(BAD_KEY_XML.into_response()),
        Fault::ResultCode(code, message) => Some(result_code(code, message)),
        Fault::Status(status) => Some((StatusCode::from_u16(status).unwrap(), "<html><body>Bad Gateway</body></html>").into_response()),
        Fault::Garbage => Some((StatusCode::OK, "{\"response\": {\"header\": ").into_response()),
        Fault::Slow(delay) => {
            tokio::time::sleep(delay).await;
            None
        }
        Fault::EchoKey => {
            let encoded = KEY.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D");
            Some(result_code("10", &format!("INVALID_REQUEST_PARAMETER_ERROR(serviceKey={KEY} {encoded})")))
        }
    }
}

fn result_code(code: &str, message: &str) -> Response {
    Json(json!({"response": {"header": {"resultCode": code, "resultMsg": message}}})).into_response()
}

fn normal(items: Vec<Value>, page: usize, rows: usize, total: usize) -> Response {
    Json(json!({"response": {"header": {"resultCode": "00", "resultMsg": "NORMAL_SERVICE"},
        "body": {"dataType": "JSON", "items": {"item": items}, "pageNo": page, "numOfRows": rows, "totalCount": total}}}))
    .into_response()
}
