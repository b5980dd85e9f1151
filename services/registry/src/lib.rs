//! The platform's services, written once.
//!
//! Every place that needs to know which services exist reads this table: the gateway's default
//! route table and public paths, the operator's components, NetworkPolicies and the peer URLs it
//! gives each service, and the development scripts (`make run`, smoke, fuzz, bench) through the
//! `couple-registry` binary. Adding a service means adding its crate and one entry to
//! [`SERVICES`].

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
    /// Whether accounts live here. Such a service reaches every service that
    /// [`holds_user_data`](Self::holds_user_data) to erase a deleted account there too: each is
    /// a peer (URL variable, NetworkPolicy admission) but not a start dependency, since the calls
    /// come from a background outbox, and `<PREFIX>ERASURE_SERVICES` names the ones deployed.
    pub owns_accounts: bool,
}

/// A request that needs no access token: a method and an exact path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PublicRoute {
    /// `POST`, `GET`, ...
    pub method: &'static str,
    /// The exact path (a trailing slash also matches).
    pub path: &'static str,
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
    // The origin of accounts: user data elsewhere is erased from here.
    holds_user_data: false,
    owns_accounts: true,
};

/// The shared calendar, dates and places.
pub const SCHEDULE_MEETING: ServiceSpec = ServiceSpec {
    name: "schedule-meeting",
    port: 8082,
    env_prefix: "SCHEDULE_MEETING_",
    storage: Storage { postgres: Need::Yes, postgres_database: Some("couple_schedule_db"), redis: Need::No, mongodb: Need::No },
    routes: &["/api/schedules", "/api/meetings", "/api/places", "/api/calendar"],
    public: &[],
    // Birthdays for the calendar.
    calls: &["user-couple"],
    holds_user_data: true,
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
    calls: &[],
    holds_user_data: true,
    owns_accounts: false,
};

/// The services behind the gateway, in start order.
pub const SERVICES: &[ServiceSpec] = &[USER_COUPLE, SCHEDULE_MEETING, QUESTION_ANSWER, CHAT];

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

    /// Where it erases a deleted account: every service that holds user data when accounts live
    /// here, none otherwise. No start order follows from these.
    pub fn erasure_targets(&self) -> impl Iterator<Item = &'static ServiceSpec> + '_ {
        SERVICES.iter().filter(|s| self.owns_accounts && s.holds_user_data)
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
        let path = path.strip_suffix('/').unwrap_or(path);
        self.public.iter().any(|p| p.method.eq_ignore_ascii_case(method) && p.path == path)
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
        assert_eq!(callers, ["schedule-meeting", "gateway"]);
        assert_eq!(USER_COUPLE.peer_url_var(&CHAT), "USER_COUPLE_CHAT_URL");
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
    }

    #[test]
    fn the_account_owner_reaches_every_service_holding_user_data_without_waiting_for_them() {
        let owners: Vec<_> = all().filter(|s| s.owns_accounts).map(|s| s.name).collect();
        assert_eq!(owners, ["user-couple"], "one origin of accounts");
        assert!(all().all(|s| !(s.owns_accounts && s.holds_user_data)), "the origin erases itself");
        assert!(all().filter(|s| s.holds_user_data).all(|s| s.name != GATEWAY.name));

        let targets: Vec<_> = USER_COUPLE.erasure_targets().map(|s| s.name).collect();
        assert_eq!(targets, ["schedule-meeting", "question-answer", "chat"]);
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
        assert_eq!(both.peers().map(|s| s.name).collect::<Vec<_>>(), ["chat", "schedule-meeting", "question-answer"]);
    }

    #[test]
    fn public_paths_match_exactly_with_an_optional_trailing_slash() {
        assert!(USER_COUPLE.is_public("POST", "/api/users/login"));
        assert!(USER_COUPLE.is_public("post", "/api/users/signup/"));
        assert!(!USER_COUPLE.is_public("GET", "/api/users/login"));
        assert!(!USER_COUPLE.is_public("POST", "/api/users/login/x"));
    }

    #[test]
    fn the_json_form_lists_every_binary_in_start_order() {
        let json: serde_json::Value = serde_json::from_str(&to_json()).unwrap();
        let names: Vec<_> = json.as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["user-couple", "schedule-meeting", "question-answer", "chat", "gateway"]);
        assert_eq!(json[4]["peerUrlVars"][0], "GATEWAY_USER_COUPLE_URL");
        assert_eq!(json[0]["peerUrlVars"][2], "USER_COUPLE_CHAT_URL");
        assert_eq!(json[0]["erasureTargets"], serde_json::json!(["schedule-meeting", "question-answer", "chat"]));
        assert_eq!(json[0]["erasureServicesVar"], "USER_COUPLE_ERASURE_SERVICES");
        assert_eq!((json[1]["erasureServicesVar"].is_null(), json[1]["holdsUserData"].as_bool()), (true, Some(true)));
        assert_eq!(json[1]["storage"]["postgresDatabase"], "couple_schedule_db");
        assert_eq!(json[0]["public"][0]["method"], "POST");
        assert_eq!(to_table().lines().last(), Some("gateway\t8080\tGATEWAY_"));
    }
}
