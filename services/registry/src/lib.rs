//! The platform's services, written once.
//!
//! Every place that needs to know which services exist reads this table: the gateway's default
//! route table and public paths, the operator's components, NetworkPolicies and the peer URLs it
//! gives each service, and the development scripts (`make run`, smoke, fuzz, bench) through the
//! `couple-registry` binary. Adding a service means adding its crate and one entry to
//! [`SERVICES`].

use std::borrow::Cow;

use serde::Serialize;

/// One service of the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    /// The name used for the binary, the crate, the gateway upstream, Kubernetes objects and
    /// labels (`user-couple`).
    pub name: &'static str,
    /// The port it listens on by default (the seed's port).
    pub port: u16,
    /// The prefix of its environment variables (`USER_COUPLE_`).
    pub env_prefix: &'static str,
    /// What it stores where.
    pub storage: Storage,
    /// Path prefixes the gateway forwards to it, matched segment by segment.
    pub routes: &'static [&'static str],
    /// Requests the gateway forwards without a token.
    pub public: &'static [PublicRoute],
    /// Services it calls (by name) and needs at start: it starts after them, each is given as
    /// `<PREFIX><PEER>_URL`, and the callee's NetworkPolicy admits the caller.
    pub calls: &'static [&'static str],
    /// Whether it keeps data about users (answers, vectors, schedules, messages) that must go
    /// when an account is deleted: it serves `DELETE /internal/users/{id}` (api.md, Erasure).
    pub holds_user_data: bool,
    /// Whether it keeps data that belongs to a couple (schedules, chat rooms, the daily-question
    /// rotation) that must go once no former member of the couple has an account: it serves
    /// `DELETE /internal/couples/{id}` (api.md, Erasure).
    pub holds_couple_data: bool,
    /// Whether accounts live here. Such a service reaches every service that
    /// [`holds_user_data`](Self::holds_user_data) or [`holds_couple_data`](Self::holds_couple_data)
    /// to erase deleted accounts and couples there too: each is a peer (URL variable,
    /// NetworkPolicy admission) but not a start dependency, since the calls come from a
    /// background outbox, and `<PREFIX>ERASURE_SERVICES` names the ones deployed.
    pub owns_accounts: bool,
}

/// A request that needs no access token: a method and a [`PathPattern`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PublicRoute {
    /// `POST`, `GET`, ...
    pub method: &'static str,
    /// The path, as a [`PathPattern`]: exact (a trailing slash also matches), or with one
    /// `{secret}` segment (`/api/calendar/feeds/{secret}.ics`).
    pub path: &'static str,
}

impl PublicRoute {
    /// Whether `method` on `path` is this request.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        self.method.eq_ignore_ascii_case(method) && PathPattern::new(self.path).matches(path)
    }
}

/// The placeholder of a credential segment in a [`PathPattern`].
pub const SECRET: &str = "{secret}";

/// What a masked credential segment reads in logs.
pub const MASK: &str = "***";

/// A public path: fixed segments, and at most one [`SECRET`] segment, optionally followed by a
/// fixed suffix (`{secret}.ics`), that stands for any single non-empty segment (with that
/// suffix) and is a credential: whoever knows the URL may read what it serves, so the segment is
/// masked wherever a path is logged ([`mask`](Self::mask)). A trailing slash of the path is
/// ignored, as for exact paths.
///
/// Matching is defined for any string; [`check`](Self::check) says whether it is a valid
/// pattern, for tables read at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathPattern<'a>(&'a str);

impl<'a> PathPattern<'a> {
    /// The pattern `pattern` (`/api/users/login`, `/api/calendar/feeds/{secret}.ics`).
    pub const fn new(pattern: &'a str) -> Self {
        Self(pattern)
    }

    /// The pattern as written.
    pub const fn as_str(&self) -> &'a str {
        self.0
    }

    /// Whether it is a valid pattern: an absolute path with at most one [`SECRET`] placeholder,
    /// which is a segment's start and is followed by a suffix without braces or nothing.
    pub fn check(&self) -> Result<(), String> {
        if !self.0.starts_with('/') {
            return Err("a path starts with `/`".into());
        }
        let mut secrets = 0;
        for segment in self.segments() {
            match segment.strip_prefix(SECRET) {
                Some(suffix) if !suffix.contains(['{', '}']) => secrets += 1,
                Some(_) => return Err(format!("`{segment}`: a suffix after {SECRET} has no braces")),
                None if segment.contains(['{', '}']) => {
                    return Err(format!("`{segment}`: the only placeholder is a whole {SECRET} segment"));
                }
                None => {}
            }
        }
        if secrets > 1 { Err(format!("at most one {SECRET} segment")) } else { Ok(()) }
    }

    /// Whether it has a credential segment.
    pub fn has_secret(&self) -> bool {
        self.secret().is_some()
    }

    /// Whether `path` is this one: the same number of segments, fixed ones equal, and the
    /// [`SECRET`] one non-empty with the suffix.
    pub fn matches(&self, path: &str) -> bool {
        let path = path.strip_suffix('/').unwrap_or(path);
        let (mut pattern, mut path) = (self.segments(), path.split('/'));
        loop {
            match (pattern.next(), path.next()) {
                (None, None) => return true,
                (Some(expected), Some(segment)) if segment_matches(expected, segment) => {}
                _ => return false,
            }
        }
    }

    /// `path` with the credential masked, when its segments up to the [`SECRET`] one are this
    /// pattern's: that segment reads [`MASK`] (keeping the suffix when it has it). Whatever
    /// follows does not matter, so a mistyped URL (without the suffix, or with more segments)
    /// does not leak the credential either. `None` when nothing is masked.
    pub fn mask(&self, path: &str) -> Option<String> {
        let (at, suffix) = self.secret()?;
        // Every request's path passes here: nothing is allocated unless something is masked.
        let mut segments = path.split('/');
        let mut start = 0;
        for expected in self.segments().take(at) {
            if segments.next()? != expected {
                return None;
            }
            start += expected.len() + 1;
        }
        let segment = segments.next().filter(|segment| !segment.is_empty())?;
        let kept_suffix = match segment.strip_suffix(suffix) {
            Some(secret) if !secret.is_empty() => suffix,
            _ => "",
        };
        Some(format!("{}{MASK}{kept_suffix}{}", &path[..start], &path[start + segment.len()..]))
    }

    /// The pattern without a trailing slash, by segment (the first is the empty one before `/`).
    fn segments(&self) -> std::str::Split<'a, char> {
        self.0.strip_suffix('/').unwrap_or(self.0).split('/')
    }

    /// The index of the [`SECRET`] segment and its suffix.
    fn secret(&self) -> Option<(usize, &'a str)> {
        self.segments().enumerate().find_map(|(at, segment)| Some((at, segment.strip_prefix(SECRET)?)))
    }
}

/// Whether one path segment matches one pattern segment.
fn segment_matches(expected: &str, segment: &str) -> bool {
    match expected.strip_prefix(SECRET) {
        Some(suffix) => segment.strip_suffix(suffix).is_some_and(|secret| !secret.is_empty()),
        None => expected == segment,
    }
}

/// `path` with every credential segment masked that one of `patterns` names (see
/// [`PathPattern::mask`]); borrowed when there is none.
pub fn mask_secrets<'p, 'a>(patterns: impl IntoIterator<Item = PathPattern<'p>>, path: &'a str) -> Cow<'a, str> {
    let mut masked = Cow::Borrowed(path);
    for pattern in patterns {
        if let Some(path) = pattern.mask(&masked) {
            masked = Cow::Owned(path);
        }
    }
    masked
}

/// The public paths of every service that hold a credential ([`PathPattern::has_secret`]).
pub fn secret_paths() -> impl Iterator<Item = PathPattern<'static>> {
    SERVICES.iter().flat_map(|spec| spec.public).map(|p| PathPattern::new(p.path)).filter(PathPattern::has_secret)
}

/// Whether a service needs a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Need {
    /// Never.
    No,
    /// Always, when the platform has that database.
    Yes,
    /// Only when it runs more than one replica (state shared between replicas); a single
    /// replica keeps it on its own volume.
    WhenScaled,
}

/// The databases a service uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Storage {
    /// PostgreSQL.
    pub postgres: Need,
    /// The name of the PostgreSQL database it owns (the operator provisions it).
    pub postgres_database: Option<&'static str>,
    /// Redis (shared codes, counters, token versions, fan-out).
    pub redis: Need,
    /// MongoDB.
    pub mongodb: Need,
}

impl Storage {
    /// No database at all.
    pub const NONE: Storage = Storage { postgres: Need::No, postgres_database: None, redis: Need::No, mongodb: Need::No };
}

/// The gateway: the single entry point, calling every service behind it.
pub const GATEWAY: ServiceSpec = ServiceSpec {
    name: "gateway",
    port: 8080,
    env_prefix: "GATEWAY_",
    storage: Storage { redis: Need::Yes, ..Storage::NONE },
    routes: &[],
    public: &[],
    calls: &["user-couple", "schedule-meeting", "question-answer", "chat"],
    holds_user_data: false,
    holds_couple_data: false,
    owns_accounts: false,
};

/// Accounts, sessions and couple matching.
pub const USER_COUPLE: ServiceSpec = ServiceSpec {
    name: "user-couple",
    port: 8081,
    env_prefix: "USER_COUPLE_",
    storage: Storage { postgres: Need::Yes, postgres_database: Some("user_couple"), redis: Need::Yes, mongodb: Need::No },
    routes: &["/api/users", "/api/couples"],
    public: &[
        PublicRoute { method: "POST", path: "/api/users/signup" },
        PublicRoute { method: "POST", path: "/api/users/login" },
        PublicRoute { method: "POST", path: "/api/users/token/refresh" },
    ],
    calls: &[],
    // The origin of accounts: user and couple data elsewhere is erased from here.
    holds_user_data: false,
    holds_couple_data: false,
    owns_accounts: true,
};

/// The shared calendar, dates and places.
pub const SCHEDULE_MEETING: ServiceSpec = ServiceSpec {
    name: "schedule-meeting",
    port: 8082,
    env_prefix: "SCHEDULE_MEETING_",
    storage: Storage { postgres: Need::Yes, postgres_database: Some("couple_schedule_db"), redis: Need::No, mongodb: Need::No },
    routes: &["/api/schedules", "/api/meetings", "/api/places", "/api/calendar"],
    // Phone calendars subscribe to the feed with no token: its secret is the credential.
    public: &[PublicRoute { method: "GET", path: "/api/calendar/feeds/{secret}.ics" }],
    // Birthdays and the couple's start date for the calendar; both partners' trait vectors for
    // recommendations.
    calls: &["user-couple", "question-answer"],
    holds_user_data: true,
    holds_couple_data: true,
    owns_accounts: false,
};

/// The daily question, answers, tag profiles and trait vectors.
pub const QUESTION_ANSWER: ServiceSpec = ServiceSpec {
    name: "question-answer",
    port: 8086,
    env_prefix: "QUESTION_ANSWER_",
    storage: Storage { postgres: Need::Yes, postgres_database: Some("question_answer_db"), redis: Need::No, mongodb: Need::Yes },
    routes: &["/api/questions", "/api/user-answers", "/api/user-vectors", "/api/tags", "/api/user-tag-profiles"],
    public: &[],
    calls: &[],
    holds_user_data: true,
    // The daily-question rotation of each couple.
    holds_couple_data: true,
    owns_accounts: false,
};

/// Real-time couple chat: REST history and the WebSocket.
pub const CHAT: ServiceSpec = ServiceSpec {
    name: "chat",
    port: 8000,
    env_prefix: "CHAT_",
    storage: Storage { postgres: Need::WhenScaled, postgres_database: Some("chat"), redis: Need::WhenScaled, mongodb: Need::No },
    routes: &["/api/chat", "/ws"],
    public: &[],
    calls: &["user-couple"],
    holds_user_data: true,
    // The couple's rooms and messages.
    holds_couple_data: true,
    owns_accounts: false,
};

/// The services behind the gateway, in start order.
pub const SERVICES: &[ServiceSpec] = &[USER_COUPLE, QUESTION_ANSWER, SCHEDULE_MEETING, CHAT];

/// Every binary that serves: the services, then the gateway in front of them.
pub fn all() -> impl Iterator<Item = &'static ServiceSpec> {
    SERVICES.iter().chain(std::iter::once(&GATEWAY))
}

/// A service (or the gateway) by name.
pub fn by_name(name: &str) -> Option<&'static ServiceSpec> {
    all().find(|s| s.name == name)
}

impl ServiceSpec {
    /// The services it calls at start ([`calls`](Self::calls)), which it starts after.
    pub fn dependencies(&self) -> impl Iterator<Item = &'static ServiceSpec> + '_ {
        self.calls.iter().filter_map(|name| by_name(name))
    }

    /// Where it erases deleted accounts and couples: every service that holds user or couple
    /// data when accounts live here, none otherwise. No start order follows from these.
    pub fn erasure_targets(&self) -> impl Iterator<Item = &'static ServiceSpec> + '_ {
        SERVICES.iter().filter(|s| self.erases_in(s))
    }

    /// Whether it erases deleted accounts or couples in `other`.
    fn erases_in(&self, other: &ServiceSpec) -> bool {
        self.owns_accounts && (other.holds_user_data || other.holds_couple_data)
    }

    /// Every service it reaches: its dependencies, then its erasure targets. Each is given as
    /// `<PREFIX><PEER>_URL`, and admits it through its NetworkPolicy.
    pub fn peers(&self) -> impl Iterator<Item = &'static ServiceSpec> + '_ {
        self.dependencies().chain(self.erasure_targets().filter(|t| !self.calls.contains(&t.name)))
    }

    /// The variable naming the erasure targets that are deployed (`USER_COUPLE_ERASURE_SERVICES`,
    /// comma-separated), for a service that owns accounts.
    pub fn erasure_services_var(&self) -> Option<String> {
        self.owns_accounts.then(|| format!("{}ERASURE_SERVICES", self.env_prefix))
    }

    /// The variable that gives it `peer`'s base URL: `<PREFIX><PEER>_URL`
    /// (`GATEWAY_USER_COUPLE_URL`).
    pub fn peer_url_var(&self, peer: &ServiceSpec) -> String {
        format!("{}{}URL", self.env_prefix, peer.env_prefix)
    }

    /// The services that reach it (it is among their [`peers`](Self::peers)).
    pub fn callers(&self) -> impl Iterator<Item = &'static ServiceSpec> + '_ {
        all().filter(|caller| caller.peers().any(|peer| peer.name == self.name))
    }

    /// Its local base URL on loopback at its default port, as `make run` starts it.
    pub fn local_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Whether `method` on `path` needs no token.
    pub fn is_public(&self, method: &str, path: &str) -> bool {
        self.public.iter().any(|p| p.matches(method, path))
    }
}

/// The registry as JSON, for scripts: every binary's entry with the names of the variables that
/// give it its peers' URLs, its erasure targets and the variable naming the deployed ones,
/// services first and the gateway last (start order).
pub fn to_json() -> String {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Entry {
        #[serde(flatten)]
        spec: &'static ServiceSpec,
        peer_url_vars: Vec<String>,
        erasure_targets: Vec<&'static str>,
        erasure_services_var: Option<String>,
    }
    let entries: Vec<Entry> = all()
        .map(|spec| Entry {
            spec,
            peer_url_vars: spec.peers().map(|p| spec.peer_url_var(p)).collect(),
            erasure_targets: spec.erasure_targets().map(|t| t.name).collect(),
            erasure_services_var: spec.erasure_services_var(),
        })
        .collect();
    serde_json::to_string_pretty(&entries).expect("the registry serialises")
}

/// One line per binary, tab-separated, for shell loops: `name port env_prefix`, services first
/// and the gateway last.
pub fn to_table() -> String {
    all().map(|s| format!("{}\t{}\t{}\n", s.name, s.port, s.env_prefix)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_ports_and_prefixes_are_unique_and_consistent() {
        let specs: Vec<_> = all().collect();
        for (i, a) in specs.iter().enumerate() {
            for b in &specs[i + 1..] {
                assert_ne!(a.name, b.name);
                assert_ne!(a.port, b.port, "{} and {}", a.name, b.name);
                assert_ne!(a.env_prefix, b.env_prefix);
            }
            let expected_prefix = format!("{}_", a.name.to_ascii_uppercase().replace('-', "_"));
            assert_eq!(a.env_prefix, expected_prefix, "the prefix is the name in upper snake case");
        }
    }

    #[test]
    fn every_call_names_a_known_service_and_never_the_caller() {
        for spec in all() {
            for call in spec.calls {
                let peer = by_name(call).unwrap_or_else(|| panic!("{} calls unknown `{call}`", spec.name));
                assert_ne!(peer.name, spec.name);
                assert_ne!(peer.name, GATEWAY.name, "nothing calls the gateway from inside");
            }
        }
        assert_eq!(GATEWAY.calls.len(), SERVICES.len(), "the gateway reaches every service");
    }

    #[test]
    fn routes_are_disjoint_segment_prefixes_and_public_paths_lie_under_their_service() {
        let mut seen = Vec::new();
        for spec in SERVICES {
            for route in spec.routes {
                assert!(route.starts_with('/') && !route.ends_with('/'), "{route}");
                assert!(!seen.contains(route), "{route} listed twice");
                seen.push(*route);
            }
            for public in spec.public {
                let covered = spec.routes.iter().any(|r| public.path.strip_prefix(r).is_some_and(|rest| rest.starts_with('/')));
                assert!(covered, "{} is not under {}'s routes", public.path, spec.name);
                assert_eq!(PathPattern::new(public.path).check(), Ok(()), "{}", public.path);
            }
        }
    }

    #[test]
    fn a_service_with_postgres_names_its_database() {
        for spec in all() {
            assert_eq!(spec.storage.postgres != Need::No, spec.storage.postgres_database.is_some(), "{}", spec.name);
        }
    }

    #[test]
    fn peer_variables_follow_the_prefixes() {
        assert_eq!(GATEWAY.peer_url_var(&USER_COUPLE), "GATEWAY_USER_COUPLE_URL");
        assert_eq!(SCHEDULE_MEETING.peer_url_var(&USER_COUPLE), "SCHEDULE_MEETING_USER_COUPLE_URL");
        let callers: Vec<_> = USER_COUPLE.callers().map(|s| s.name).collect();
        assert_eq!(callers, ["schedule-meeting", "chat", "gateway"], "couples (members, nicknames), the API");
        assert_eq!(CHAT.peer_url_var(&USER_COUPLE), "CHAT_USER_COUPLE_URL");
        let callers: Vec<_> = QUESTION_ANSWER.callers().map(|s| s.name).collect();
        assert_eq!(callers, ["user-couple", "schedule-meeting", "gateway"], "erasures, trait vectors, the API");
        assert_eq!(USER_COUPLE.peer_url_var(&CHAT), "USER_COUPLE_CHAT_URL");
        assert_eq!(SCHEDULE_MEETING.peer_url_var(&QUESTION_ANSWER), "SCHEDULE_MEETING_QUESTION_ANSWER_URL");
    }

    #[test]
    fn services_start_after_their_dependencies_only() {
        for (i, spec) in SERVICES.iter().enumerate() {
            for dependency in spec.dependencies() {
                let at = SERVICES.iter().position(|s| s.name == dependency.name).unwrap();
                assert!(at < i, "{} calls {} at start, so it is listed after it", spec.name, dependency.name);
            }
        }
        assert_eq!(SERVICES[0].name, USER_COUPLE.name, "user-couple needs nothing at start");
        let deps: Vec<_> = SCHEDULE_MEETING.dependencies().map(|s| s.name).collect();
        assert_eq!(deps, ["user-couple", "question-answer"]);
    }

    #[test]
    fn the_account_owner_reaches_every_service_holding_user_data_without_waiting_for_them() {
        let owners: Vec<_> = all().filter(|s| s.owns_accounts).map(|s| s.name).collect();
        assert_eq!(owners, ["user-couple"], "one origin of accounts");
        assert!(all().all(|s| !(s.owns_accounts && s.holds_user_data)), "the origin erases itself");
        assert!(all().filter(|s| s.holds_user_data).all(|s| s.name != GATEWAY.name));

        let targets: Vec<_> = USER_COUPLE.erasure_targets().map(|s| s.name).collect();
        assert_eq!(targets, ["question-answer", "schedule-meeting", "chat"]);
        assert_eq!(USER_COUPLE.dependencies().count(), 0, "erasure targets are no start dependencies");
        let peers: Vec<_> = USER_COUPLE.peers().map(|s| s.name).collect();
        assert_eq!(peers, targets, "but peers: URLs and NetworkPolicy admission");
        for target in USER_COUPLE.erasure_targets() {
            let callers: Vec<_> = target.callers().map(|s| s.name).collect();
            assert!(callers.contains(&"user-couple"), "{} admits user-couple: {callers:?}", target.name);
        }
        assert_eq!(USER_COUPLE.erasure_services_var().as_deref(), Some("USER_COUPLE_ERASURE_SERVICES"));
        assert_eq!(CHAT.erasure_targets().count() + GATEWAY.erasure_targets().count(), 0);
        assert_eq!(CHAT.erasure_services_var(), None);
        // A peer both called and erased appears once.
        let both = ServiceSpec { calls: &["chat"], ..USER_COUPLE };
        assert_eq!(both.peers().map(|s| s.name).collect::<Vec<_>>(), ["chat", "question-answer", "schedule-meeting"]);
    }

    #[test]
    fn services_with_couple_data_are_erasure_targets_too() {
        let couple_data: Vec<_> = all().filter(|s| s.holds_couple_data).map(|s| s.name).collect();
        assert_eq!(couple_data, ["question-answer", "schedule-meeting", "chat"]);
        assert!(all().all(|s| !(s.owns_accounts && s.holds_couple_data)));
        // A service with couple data only is erased in as well.
        let couples_only = ServiceSpec { name: "couples-only", holds_user_data: false, holds_couple_data: true, ..CHAT };
        assert!(USER_COUPLE.erases_in(&couples_only));
        assert!(!USER_COUPLE.erases_in(&GATEWAY) && !CHAT.erases_in(&couples_only));
    }

    #[test]
    fn public_paths_match_exactly_with_an_optional_trailing_slash() {
        assert!(USER_COUPLE.is_public("POST", "/api/users/login"));
        assert!(USER_COUPLE.is_public("post", "/api/users/signup/"));
        assert!(!USER_COUPLE.is_public("GET", "/api/users/login"));
        assert!(!USER_COUPLE.is_public("POST", "/api/users/login/x"));
    }

    #[test]
    fn a_secret_segment_matches_any_one_non_empty_segment_with_its_suffix() {
        assert!(SCHEDULE_MEETING.is_public("GET", "/api/calendar/feeds/k3Xq9-abc.ics"));
        assert!(SCHEDULE_MEETING.is_public("get", "/api/calendar/feeds/k3Xq9-abc.ics/"));
        for path in [
            "/api/calendar/feeds",
            "/api/calendar/feeds/",
            "/api/calendar/feeds/.ics",
            "/api/calendar/feeds/abc",
            "/api/calendar/feeds/abc.ics/x",
            "/api/calendar/feeds/a/b.ics",
            "/api/calendar/other/abc.ics",
        ] {
            assert!(!SCHEDULE_MEETING.is_public("GET", path), "{path}");
        }
        assert!(!SCHEDULE_MEETING.is_public("DELETE", "/api/calendar/feeds/abc.ics"));
        let bare = PathPattern::new("/feeds/{secret}");
        assert!(bare.matches("/feeds/anything") && !bare.matches("/feeds/") && !bare.matches("/feeds"));
        let middle = PathPattern::new("/a/{secret}/b");
        assert!(middle.matches("/a/x/b") && !middle.matches("/a/x") && !middle.matches("/a/x/c"));
    }

    #[test]
    fn patterns_are_checked() {
        for valid in ["/api/users/login", "/api/calendar/feeds/{secret}.ics", "/f/{secret}", "/a/{secret}/b/"] {
            assert_eq!(PathPattern::new(valid).check(), Ok(()), "{valid}");
        }
        for invalid in ["api/x", "/a/{id}", "/a/x{secret}", "/a/{secret}/{secret}", "/a/{secret}.{ext}", "/a/{secret"] {
            assert!(PathPattern::new(invalid).check().is_err(), "{invalid}");
        }
        assert!(PathPattern::new("/f/{secret}.ics").has_secret());
        assert!(!PathPattern::new("/api/users/login").has_secret());
    }

    #[test]
    fn the_secret_segment_is_masked_even_in_a_mistyped_url() {
        let feed = PathPattern::new("/api/calendar/feeds/{secret}.ics");
        assert_eq!(feed.mask("/api/calendar/feeds/k3Xq9.ics").as_deref(), Some("/api/calendar/feeds/***.ics"));
        assert_eq!(feed.mask("/api/calendar/feeds/k3Xq9.ics/").as_deref(), Some("/api/calendar/feeds/***.ics/"));
        assert_eq!(feed.mask("/api/calendar/feeds/k3Xq9").as_deref(), Some("/api/calendar/feeds/***"), "no suffix");
        assert_eq!(feed.mask("/api/calendar/feeds/k3Xq9.ics/more").as_deref(), Some("/api/calendar/feeds/***.ics/more"));
        assert_eq!(feed.mask("/api/calendar/feeds/.ics").as_deref(), Some("/api/calendar/feeds/***"));
        for untouched in ["/api/calendar/feeds", "/api/calendar/feeds/", "/api/calendar/x/k3Xq9.ics", "/api/users/me"] {
            assert_eq!(feed.mask(untouched), None, "{untouched}");
        }
        assert_eq!(PathPattern::new("/api/users/login").mask("/api/users/login"), None, "nothing secret");
        assert_eq!(mask_secrets(secret_paths(), "/api/calendar/feeds/s3cr3t.ics"), "/api/calendar/feeds/***.ics");
        assert!(matches!(mask_secrets(secret_paths(), "/api/schedules/1"), Cow::Borrowed("/api/schedules/1")));
        let secret: Vec<_> = secret_paths().map(|p| p.as_str()).collect();
        assert_eq!(secret, ["/api/calendar/feeds/{secret}.ics"]);
    }

    #[test]
    fn the_json_form_lists_every_binary_in_start_order() {
        let json: serde_json::Value = serde_json::from_str(&to_json()).unwrap();
        let names: Vec<_> = json.as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["user-couple", "question-answer", "schedule-meeting", "chat", "gateway"]);
        assert_eq!(json[4]["peerUrlVars"][0], "GATEWAY_USER_COUPLE_URL");
        assert_eq!(json[0]["peerUrlVars"][2], "USER_COUPLE_CHAT_URL");
        assert_eq!(json[0]["erasureTargets"], serde_json::json!(["question-answer", "schedule-meeting", "chat"]));
        assert_eq!(json[0]["erasureServicesVar"], "USER_COUPLE_ERASURE_SERVICES");
        let schedule = &json[2];
        assert_eq!((schedule["erasureServicesVar"].is_null(), schedule["holdsUserData"].as_bool()), (true, Some(true)));
        assert_eq!(schedule["holdsCoupleData"], true);
        assert_eq!(schedule["storage"]["postgresDatabase"], "couple_schedule_db");
        assert_eq!(schedule["calls"], serde_json::json!(["user-couple", "question-answer"]));
        assert_eq!(
            schedule["peerUrlVars"],
            serde_json::json!(["SCHEDULE_MEETING_USER_COUPLE_URL", "SCHEDULE_MEETING_QUESTION_ANSWER_URL"])
        );
        assert_eq!(schedule["public"][0], serde_json::json!({"method": "GET", "path": "/api/calendar/feeds/{secret}.ics"}));
        let chat = &json[3];
        assert_eq!(
            (&chat["calls"], &chat["peerUrlVars"]),
            (&serde_json::json!(["user-couple"]), &serde_json::json!(["CHAT_USER_COUPLE_URL"]))
        );
        assert_eq!(json[0]["public"][0]["method"], "POST");
        assert_eq!(to_table().lines().last(), Some("gateway\t8080\tGATEWAY_"));
    }
}
