//! The route table: which path prefixes go to which upstream, with what timeout.
//!
//! Prefixes match whole path segments (`/api/users` matches `/api/users` and `/api/users/me`, never
//! `/api/usersX`). `/internal/**` is never routed, whatever the table says.

use std::{collections::BTreeMap, path::Path, sync::Arc, time::Duration};

use axum::http::{Method, Uri, uri::Authority, uri::Scheme};
use couple_common::config::ConfigError;
use couple_registry::{PathPattern, SERVICES, ServiceSpec, USER_COUPLE};
use serde::{Deserialize, Serialize};

use crate::{circuit::CircuitBreaker, config::Config, proxy::UpstreamMetrics};

/// The route table, and the format of the file `GATEWAY_ROUTES_FILE` names (the operator mounts it
/// from a ConfigMap):
///
/// ```json
/// {
///   "upstreams": {"user-couple": {"url": "http://user-couple:8081", "timeoutMs": 5000}},
///   "routes": [{"prefix": "/api/users", "upstream": "user-couple", "timeoutMs": 5000}],
///   "public": [{"method": "POST", "path": "/api/users/login"}]
/// }
/// ```
///
/// Upstream URLs are plain `http://host:port` (traffic inside the cluster). A route's `timeoutMs`
/// wins over its upstream's, which wins over `GATEWAY_ROUTE_TIMEOUT_MS`. The longest matching
/// prefix wins. The upstream named `user-couple`, when present, also answers token-version
/// lookups. `public` lists the requests forwarded without a token (exact path, a trailing slash
/// also matches, or a path with one `{secret}` segment: `couple_registry::PathPattern`); without
/// it, the public routes of every service in the registry (sign-up, login, token refresh and the
/// calendar feed). Optional fields are left out when unset, so a gateway that predates one
/// still reads a table written without it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteTable {
    /// Upstream services by name.
    pub upstreams: BTreeMap<String, UpstreamSpec>,
    /// Path prefixes and where they go.
    pub routes: Vec<RouteSpec>,
    /// Requests that need no token; `None` means the registry's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public: Option<Vec<PublicSpec>>,
}

/// One upstream service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpstreamSpec {
    /// Base URL, `http://host:port`.
    pub url: String,
    /// Default timeout of the routes to this upstream, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// One route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteSpec {
    /// Path prefix, matched segment by segment (`/api/users`).
    pub prefix: String,
    /// Name of an entry in `upstreams`.
    pub upstream: String,
    /// Time allowed for the upstream's response headers, retries included, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// A request that needs no token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PublicSpec {
    /// `POST`, `GET`, ...
    pub method: String,
    /// The exact path (`/api/users/login`), or one with a `{secret}` segment
    /// (`/api/calendar/feeds/{secret}.ics`), which is masked in the access log.
    pub path: String,
}

/// The gateway's own paths, which no route may shadow.
const RESERVED: [&str; 4] = ["/internal", "/healthz", "/readyz", "/openapi.json"];

impl RouteTable {
    /// Every service of the registry with its routes, at the URLs of [`Config::peers`], and the
    /// registry's public routes.
    pub fn defaults(config: &Config) -> Self {
        let route = |spec: &ServiceSpec, prefix: &str| RouteSpec { prefix: prefix.into(), upstream: spec.name.into(), timeout_ms: None };
        Self {
            upstreams: SERVICES
                .iter()
                .map(|spec| (spec.name.to_owned(), UpstreamSpec { url: config.peers.url(spec), timeout_ms: None }))
                .collect(),
            routes: SERVICES.iter().flat_map(|spec| spec.routes.iter().map(move |prefix| route(spec, prefix))).collect(),
            public: None,
        }
    }

    /// Reads a table from a JSON file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError(format!("GATEWAY_ROUTES_FILE {}: {e}", path.display())))?;
        serde_json::from_str(&text).map_err(|e| ConfigError(format!("GATEWAY_ROUTES_FILE {}: {e}", path.display())))
    }

    /// The table from `GATEWAY_ROUTES_FILE` when set, the defaults otherwise.
    pub fn load(config: &Config) -> Result<Self, ConfigError> {
        match &config.routes_file {
            Some(path) => Self::from_file(path),
            None => Ok(Self::defaults(config)),
        }
    }

    /// Checks the table and resolves names, URLs and timeouts.
    pub(crate) fn compile(&self, config: &Config) -> Result<Routes, ConfigError> {
        let open_for = Duration::from_secs(config.circuit.open_secs);
        let upstream = |name: &str, url: &str| -> Result<Arc<Upstream>, ConfigError> {
            let (scheme, authority) = parse_base_url(url).map_err(|why| ConfigError(format!("upstream `{name}`: {why}")))?;
            Ok(Arc::new(Upstream {
                name: name.into(),
                scheme,
                authority,
                breaker: CircuitBreaker::new(config.circuit.failure_threshold, open_for),
                metrics: UpstreamMetrics::new(name),
            }))
        };
        let mut upstreams = BTreeMap::new();
        for (name, spec) in &self.upstreams {
            upstreams.insert(name.as_str(), (upstream(name, &spec.url)?, spec.timeout_ms));
        }
        let mut routes = Vec::with_capacity(self.routes.len());
        for spec in &self.routes {
            let prefix = normalize_prefix(&spec.prefix).map_err(|why| ConfigError(format!("route `{}`: {why}", spec.prefix)))?;
            let (upstream, upstream_timeout) = upstreams
                .get(spec.upstream.as_str())
                .ok_or_else(|| ConfigError(format!("route `{}`: unknown upstream `{}`", spec.prefix, spec.upstream)))?;
            let timeout_ms = spec.timeout_ms.or(*upstream_timeout).unwrap_or(config.route_timeout_ms);
            if timeout_ms == 0 {
                return Err(ConfigError(format!("route `{}`: timeoutMs must be positive", spec.prefix)));
            }
            if routes.iter().any(|r: &Route| r.prefix == prefix) {
                return Err(ConfigError(format!("route `{}` is listed twice", spec.prefix)));
            }
            routes.push(Route { prefix, upstream: upstream.clone(), timeout: Duration::from_millis(timeout_ms) });
        }
        // Longest first, so the first match is the most specific.
        routes.sort_by(|a, b| b.prefix.len().cmp(&a.prefix.len()).then_with(|| a.prefix.cmp(&b.prefix)));
        let user_couple = match upstreams.get(USER_COUPLE.name) {
            Some((u, _)) => u.clone(),
            None => upstream(USER_COUPLE.name, &config.peers.url(&USER_COUPLE))?,
        };
        Ok(Routes { routes, upstreams: upstreams.into_values().map(|(u, _)| u).collect(), user_couple, public: self.public_routes()? })
    }

    /// The `public` list, or the registry's public routes without one.
    fn public_routes(&self) -> Result<Vec<PublicRoute>, ConfigError> {
        let listed: Vec<(&str, &str)> = match &self.public {
            Some(list) => list.iter().map(|p| (p.method.as_str(), p.path.as_str())).collect(),
            None => SERVICES.iter().flat_map(|spec| spec.public).map(|p| (p.method, p.path)).collect(),
        };
        listed
            .into_iter()
            .map(|(method, path)| {
                let fail = |why: &str| ConfigError(format!("public `{method} {path}`: {why}"));
                let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).map_err(|_| fail("not an HTTP method"))?;
                PathPattern::new(path).check().map_err(|why| fail(&why))?;
                Ok(PublicRoute { method, path: path.strip_suffix('/').unwrap_or(path).to_owned() })
            })
            .collect()
    }
}

/// An upstream service with its breaker and metrics.
#[derive(Debug)]
pub(crate) struct Upstream {
    pub name: Arc<str>,
    pub scheme: Scheme,
    pub authority: Authority,
    pub breaker: CircuitBreaker,
    pub metrics: UpstreamMetrics,
}

impl Upstream {
    /// The upstream URI for a path and query.
    pub fn uri(&self, path_and_query: axum::http::uri::PathAndQuery) -> Uri {
        let mut parts = axum::http::uri::Parts::default();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        parts.path_and_query = Some(path_and_query);
        // Scheme, authority and path were each validated already.
        Uri::from_parts(parts).expect("valid upstream URI parts")
    }
}

/// A compiled route.
#[derive(Debug)]
pub(crate) struct Route {
    /// Without a trailing slash; empty for a catch-all `/` route.
    pub prefix: String,
    pub upstream: Arc<Upstream>,
    pub timeout: Duration,
}

impl Route {
    /// Whether the route covers `path`, segment by segment.
    pub fn matches(&self, path: &str) -> bool {
        path.strip_prefix(self.prefix.as_str()).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }

    /// The axum paths that register this route: the prefix, the prefix with a trailing slash (a
    /// catch-all never matches an empty rest), and everything below it.
    pub fn axum_paths(&self) -> Vec<String> {
        if self.prefix.is_empty() {
            vec!["/".into(), "/{*rest}".into()]
        } else {
            vec![self.prefix.clone(), format!("{}/", self.prefix), format!("{}/{{*rest}}", self.prefix)]
        }
    }
}

/// The compiled table.
#[derive(Debug)]
pub(crate) struct Routes {
    /// Longest prefix first.
    pub routes: Vec<Route>,
    pub upstreams: Vec<Arc<Upstream>>,
    /// Answers token-version lookups: the table's `user-couple` upstream, else
    /// `GATEWAY_USER_COUPLE_URL`.
    pub user_couple: Arc<Upstream>,
    /// Requests that need no token.
    pub public: Vec<PublicRoute>,
}

/// A request that needs no token; the path (a checked `PathPattern`) without a trailing slash.
#[derive(Debug)]
pub(crate) struct PublicRoute {
    method: Method,
    path: String,
}

impl Routes {
    /// The route for `path`, unless the path is one the gateway never forwards.
    pub fn find(&self, path: &str) -> Option<&Route> {
        if is_internal(path) || has_dot_segment(path) {
            return None;
        }
        self.routes.iter().find(|r| r.matches(path))
    }

    /// Whether `method` on `path` (with or without a trailing slash) needs no token.
    pub fn is_public(&self, method: &Method, path: &str) -> bool {
        self.public.iter().any(|p| p.method == method && PathPattern::new(&p.path).matches(path))
    }

    /// The public paths with a credential segment, which the access log masks.
    pub fn secret_paths(&self) -> Vec<String> {
        self.public.iter().filter(|p| PathPattern::new(&p.path).has_secret()).map(|p| p.path.clone()).collect()
    }
}

/// `/internal/**` is for service-to-service calls only.
pub(crate) fn is_internal(path: &str) -> bool {
    path.strip_prefix("/internal").is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// `.` and `..` segments (also percent-encoded): upstreams do not normalise paths today, but one
/// that did could be walked into `/internal/` from an allowed prefix.
pub(crate) fn has_dot_segment(path: &str) -> bool {
    if !path.contains('.') && !path.contains('%') {
        return false;
    }
    path.split('/').any(|segment| {
        let lower = segment.to_ascii_lowercase();
        matches!(lower.as_str(), "." | ".." | "%2e" | "%2e%2e" | ".%2e" | "%2e.")
    })
}

fn normalize_prefix(prefix: &str) -> Result<String, String> {
    if !prefix.starts_with('/') {
        return Err("a prefix starts with `/`".into());
    }
    let trimmed = prefix.trim_end_matches('/');
    for segment in trimmed.split('/').skip(1) {
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err("empty, `.` and `..` segments are not allowed".into());
        }
        if !segment.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')) {
            return Err("segments may hold letters, digits and `-_.~` only".into());
        }
    }
    if trimmed.is_empty() {
        // A catch-all `/` is fine: the gateway's own paths and /internal are registered explicitly.
        return Ok(String::new());
    }
    match RESERVED.iter().find(|r| trimmed.strip_prefix(**r).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))) {
        Some(r) => Err(format!("`{r}` belongs to the gateway")),
        None => Ok(trimmed.to_owned()),
    }
}

fn parse_base_url(url: &str) -> Result<(Scheme, Authority), String> {
    let uri: Uri = url.parse().map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    let scheme = uri.scheme().cloned().ok_or_else(|| format!("`{url}` has no scheme"))?;
    if scheme != Scheme::HTTP {
        return Err(format!("`{url}`: only http:// upstreams are supported"));
    }
    let authority = uri.authority().cloned().ok_or_else(|| format!("`{url}` has no host"))?;
    if uri.path_and_query().is_some_and(|pq| pq.as_str() != "/") {
        return Err(format!("`{url}`: an upstream URL has no path or query"));
    }
    Ok((scheme, authority))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compiled(table: &RouteTable) -> Routes {
        table.compile(&Config::default()).unwrap()
    }

    fn upstream_of<'a>(routes: &'a Routes, path: &str) -> Option<&'a str> {
        routes.find(path).map(|r| &*r.upstream.name)
    }

    #[test]
    fn prefixes_match_whole_segments() {
        let routes = compiled(&RouteTable::defaults(&Config::default()));
        assert_eq!(upstream_of(&routes, "/api/users"), Some("user-couple"));
        assert_eq!(upstream_of(&routes, "/api/users/me"), Some("user-couple"));
        assert_eq!(upstream_of(&routes, "/api/usersX"), None);
        assert_eq!(upstream_of(&routes, "/api/user-answers/my-answers"), Some("question-answer"));
        assert_eq!(upstream_of(&routes, "/api/chat/rooms/"), Some("chat"));
        assert_eq!(upstream_of(&routes, "/ws/chat/1/"), Some("chat"));
        assert_eq!(upstream_of(&routes, "/api/calendar"), Some("schedule-meeting"));
        assert_eq!(upstream_of(&routes, "/"), None);
    }

    #[test]
    fn internal_paths_and_dot_segments_are_never_routed() {
        let table = RouteTable {
            upstreams: [("any".to_owned(), UpstreamSpec { url: "http://127.0.0.1:1".into(), timeout_ms: None })].into(),
            routes: vec![RouteSpec { prefix: "/".into(), upstream: "any".into(), timeout_ms: None }],
            public: None,
        };
        let routes = compiled(&table);
        assert_eq!(upstream_of(&routes, "/anything"), Some("any"));
        assert_eq!(upstream_of(&routes, "/internal"), None);
        assert_eq!(upstream_of(&routes, "/internal/users/1/token-version"), None);
        assert_eq!(upstream_of(&routes, "/internalize"), Some("any"));
        assert_eq!(upstream_of(&routes, "/api/users/../internal/x"), None);
        assert_eq!(upstream_of(&routes, "/api/users/%2E%2e/internal/x"), None);
        assert_eq!(upstream_of(&routes, "/api/places/cafe.jpg"), Some("any"));
    }

    #[test]
    fn the_longest_prefix_wins_and_timeouts_cascade() {
        let table: RouteTable = serde_json::from_str(
            r#"{"upstreams": {"a": {"url": "http://a:1", "timeoutMs": 700}, "b": {"url": "http://b:2/"}},
                "routes": [{"prefix": "/api", "upstream": "a"},
                           {"prefix": "/api/slow/", "upstream": "b", "timeoutMs": 300},
                           {"prefix": "/api/b", "upstream": "b"}]}"#,
        )
        .unwrap();
        let routes = compiled(&table);
        let slow = routes.find("/api/slow/x").unwrap();
        assert_eq!((&*slow.upstream.name, slow.timeout, slow.prefix.as_str()), ("b", Duration::from_millis(300), "/api/slow"));
        let a = routes.find("/api/other").unwrap();
        assert_eq!((&*a.upstream.name, a.timeout), ("a", Duration::from_millis(700)));
        assert_eq!(routes.find("/api/b").unwrap().timeout, Config::default().route_timeout());
    }

    #[test]
    fn invalid_tables_are_refused_at_start_up() {
        let table = |url: &str, prefix: &str, upstream: &str| RouteTable {
            upstreams: [("u".to_owned(), UpstreamSpec { url: url.into(), timeout_ms: None })].into(),
            routes: vec![RouteSpec { prefix: prefix.into(), upstream: upstream.into(), timeout_ms: None }],
            public: None,
        };
        let config = Config::default();
        assert!(table("http://u:1", "/api", "u").compile(&config).is_ok());
        assert!(table("http://u:1", "/api", "missing").compile(&config).is_err());
        assert!(table("https://u:1", "/api", "u").compile(&config).is_err());
        assert!(table("http://u:1/base", "/api", "u").compile(&config).is_err());
        assert!(table("http://u:1", "api", "u").compile(&config).is_err());
        assert!(table("http://u:1", "/internal/x", "u").compile(&config).is_err());
        assert!(table("http://u:1", "/healthz", "u").compile(&config).is_err());
        assert!(table("http://u:1", "/api/{id}", "u").compile(&config).is_err());
        assert!(serde_json::from_str::<RouteTable>(r#"{"upstreams": {}, "routes": [], "extra": 1}"#).is_err());
    }

    #[test]
    fn only_signup_login_refresh_and_the_calendar_feed_are_public() {
        let routes = compiled(&RouteTable::defaults(&Config::default()));
        assert!(routes.is_public(&Method::POST, "/api/users/login"));
        assert!(routes.is_public(&Method::POST, "/api/users/signup/"));
        assert!(routes.is_public(&Method::POST, "/api/users/token/refresh"));
        assert!(!routes.is_public(&Method::GET, "/api/users/login"));
        assert!(!routes.is_public(&Method::POST, "/api/users/logout"));
        assert!(!routes.is_public(&Method::POST, "/api/users/login/x"));
        assert!(routes.is_public(&Method::GET, "/api/calendar/feeds/Zm9vYmFy.ics"));
        for path in ["/api/calendar/feeds", "/api/calendar/feeds/", "/api/calendar/feeds/0190-id", "/api/calendar/feeds/x.ics/y"] {
            assert!(!routes.is_public(&Method::GET, path), "{path}");
        }
        assert!(!routes.is_public(&Method::POST, "/api/calendar/feeds"));
        assert!(!routes.is_public(&Method::DELETE, "/api/calendar/feeds/Zm9vYmFy.ics"));
        assert_eq!(routes.secret_paths(), ["/api/calendar/feeds/{secret}.ics"]);
    }

    #[test]
    fn a_public_list_in_the_table_replaces_the_registry_one() {
        let mut table = RouteTable::defaults(&Config::default());
        table.public = Some(vec![PublicSpec { method: "get".into(), path: "/api/places/".into() }]);
        let routes = compiled(&table);
        assert!(routes.is_public(&Method::GET, "/api/places"));
        assert!(routes.is_public(&Method::GET, "/api/places/"));
        assert!(!routes.is_public(&Method::POST, "/api/places"));
        assert!(!routes.is_public(&Method::POST, "/api/users/login"), "only what the list says");
        table.public = Some(Vec::new());
        assert!(!compiled(&table).is_public(&Method::POST, "/api/users/login"), "an empty list makes everything need a token");
        table.public = Some(vec![PublicSpec { method: "POST".into(), path: "api/x".into() }]);
        assert!(table.compile(&Config::default()).is_err());
        table.public = Some(vec![PublicSpec { method: "GET".into(), path: "/api/x/{id}".into() }]);
        assert!(table.compile(&Config::default()).is_err(), "the only placeholder is {{secret}}");
        table.public = Some(vec![PublicSpec { method: "GET".into(), path: "/api/places/{secret}/".into() }]);
        let routes = compiled(&table);
        assert!(routes.is_public(&Method::GET, "/api/places/k3y") && !routes.is_public(&Method::GET, "/api/places"));
        assert_eq!(routes.secret_paths(), ["/api/places/{secret}"]);
        table.public = Some(vec![PublicSpec { method: "NOT A METHOD".into(), path: "/api/x".into() }]);
        assert!(table.compile(&Config::default()).is_err());
    }

    #[test]
    fn the_default_routes_and_upstreams_come_from_the_registry() {
        let peers = couple_common::config::PeerUrls::default().with(&couple_registry::CHAT, "http://chat:9");
        let table = RouteTable::defaults(&Config { peers, ..Config::default() });
        let names: Vec<_> = table.upstreams.keys().map(String::as_str).collect();
        assert_eq!(names, ["chat", "question-answer", "schedule-meeting", "user-couple"]);
        assert_eq!(table.upstreams["chat"].url, "http://chat:9");
        assert_eq!(table.upstreams["user-couple"].url, "http://127.0.0.1:8081");
        assert_eq!(table.routes.len(), SERVICES.iter().map(|s| s.routes.len()).sum::<usize>());
        assert!(table.routes.iter().any(|r| r.prefix == "/ws" && r.upstream == "chat"));
    }

    #[test]
    fn the_default_table_round_trips_through_the_file_format() {
        let mut table = RouteTable::defaults(&Config::default());
        let json = serde_json::to_string(&table).unwrap();
        assert_eq!(serde_json::from_str::<RouteTable>(&json).unwrap(), table);
        table.public = Some(vec![PublicSpec { method: "POST".into(), path: "/api/users/login".into() }]);
        let json = serde_json::to_string(&table).unwrap();
        assert!(json.contains(r#""public":[{"method":"POST","path":"/api/users/login"}]"#), "{json}");
        assert_eq!(serde_json::from_str::<RouteTable>(&json).unwrap(), table);
    }

    /// The format as the previous gateway reads it: a newer operator's ConfigMap must still load
    /// there during a rollout.
    mod previous_version {
        use std::collections::BTreeMap;

        use serde::Deserialize;

        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        pub struct RouteTable {
            pub upstreams: BTreeMap<String, UpstreamSpec>,
            pub routes: Vec<RouteSpec>,
        }

        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        pub struct UpstreamSpec {
            pub url: String,
            #[serde(default)]
            pub timeout_ms: Option<u64>,
        }

        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        pub struct RouteSpec {
            pub prefix: String,
            pub upstream: String,
            #[serde(default)]
            pub timeout_ms: Option<u64>,
        }
    }

    #[test]
    fn the_previous_gateway_version_reads_the_default_table() {
        let table = RouteTable::defaults(&Config::default());
        let json = serde_json::to_string(&table).unwrap();
        let previous: previous_version::RouteTable = serde_json::from_str(&json).unwrap();
        let routes: Vec<_> = previous.routes.iter().map(|r| (r.prefix.as_str(), r.upstream.as_str(), r.timeout_ms)).collect();
        let expected: Vec<_> = table.routes.iter().map(|r| (r.prefix.as_str(), r.upstream.as_str(), r.timeout_ms)).collect();
        assert_eq!(routes, expected);
        let upstreams: Vec<_> = previous.upstreams.iter().map(|(name, u)| (name.as_str(), u.url.as_str(), u.timeout_ms)).collect();
        let expected: Vec<_> = table.upstreams.iter().map(|(name, u)| (name.as_str(), u.url.as_str(), u.timeout_ms)).collect();
        assert_eq!(upstreams, expected);
    }
}
