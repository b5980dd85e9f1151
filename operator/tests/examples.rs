//! The example CoupleApps under `examples/` parse and pass validation, so they stay correct as
//! the CRD evolves.

use couple_operator::{builders::Component, crd::CoupleApp, validate::validate};

#[test]
fn every_example_is_a_valid_coupleapp() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let app: CoupleApp = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if let Err(problems) = validate(&app.metadata.name.clone().unwrap_or_default(), &app.spec) {
            panic!("{}: {problems:?}", path.display());
        }
        seen += 1;
    }
    assert!(seen >= 3, "expected the minimal, external and production examples, found {seen}");
}

/// The kind example as the API server returns it, and what the operator makes of it.
fn kind_example(edit: impl FnOnce(&mut CoupleApp)) -> couple_operator::builders::desired::Desired {
    use couple_operator::builders::{
        Platform,
        desired::{Inputs, desired},
        secret::Entropy,
    };
    use rand::{SeedableRng, rngs::StdRng};

    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/kind.yaml")).unwrap();
    let mut app: CoupleApp = serde_yaml::from_str(&text).unwrap();
    app.metadata.uid = Some("0b9c1e6a-1111-4222-8333-444455556666".into());
    edit(&mut app);
    let platform = Platform::new(&app).unwrap();
    desired(&platform, &Inputs::new(Entropy::from_rng(&mut StdRng::seed_from_u64(7))))
}

/// The migration Job of `binary`: `<binary> migrate` with the service's own database URL (no
/// MongoDB URL, since the example configures no MongoDB), and its Deployment held back until the
/// Job succeeds.
fn assert_migrated_first(desired: &couple_operator::builders::desired::Desired, component: Component, binary: &str, variable: &str) {
    let migration = desired.migrations.iter().find(|m| m.service == component).unwrap_or_else(|| panic!("{binary} migrates"));
    let job = migration.job.as_ref().expect("a Job until its success is recorded");
    let container = &job.spec.as_ref().unwrap().template.spec.as_ref().unwrap().containers[0];
    assert_eq!(container.command.as_deref(), Some(&[binary.to_owned(), "migrate".to_owned()][..]));
    let env = container.env.as_deref().unwrap_or_default();
    let database_url = env.iter().find(|v| v.name == variable).unwrap_or_else(|| panic!("{variable}"));
    let secret = database_url.value_from.as_ref().and_then(|from| from.secret_key_ref.as_ref()).expect("from a Secret");
    assert_eq!((secret.name.as_str(), secret.key.as_str()), (format!("demo-db-{binary}").as_str(), "url"));
    assert!(!env.iter().any(|v| v.name.contains("MONGODB")), "no MongoDB in the kind example");
    let deployment = format!("demo-{binary}");
    assert!(desired.services.deployments.iter().all(|d| d.metadata.name.as_deref() != Some(&deployment)), "{binary} held until migrated");
}

/// `make kind-up` runs question-answer and schedule-meeting, each migrated by a Job before its
/// Deployment starts.
#[test]
fn the_kind_example_migrates_its_services_with_their_database_urls() {
    let desired = kind_example(|_| {});
    assert_migrated_first(&desired, Component::QuestionAnswer, "question-answer", "QUESTION_ANSWER_DATABASE_URL");
    assert_migrated_first(&desired, Component::ScheduleMeeting, "schedule-meeting", "SCHEDULE_MEETING_DATABASE_URL");
}

/// `make kind-up` runs chat as one replica: a StatefulSet on SQLite (its file on a volume) that
/// migrates itself, so no Job and no database of its own; asked for two replicas, it moves to
/// PostgreSQL, and a migration Job comes first as for the other services.
#[test]
fn the_kind_example_runs_chat_on_sqlite_and_scaled_out_migrates_it_first() {
    let desired = kind_example(|_| {});
    let set = desired.services.stateful_sets.iter().find(|s| s.metadata.name.as_deref() == Some("demo-chat")).expect("chat is enabled");
    let container = &set.spec.template.spec.as_ref().unwrap().containers[0];
    assert_eq!(container.command.as_deref(), Some(&["chat".to_owned(), "serve".to_owned()][..]));
    let env: Vec<_> = container.env.as_deref().unwrap_or_default().iter().map(|v| (v.name.as_str(), v.value.as_deref())).collect();
    assert!(env.contains(&("CHAT_DATABASE_URL", Some("sqlite:/data/chat.db"))), "{env:?}");
    assert!(env.contains(&("CHAT_USER_COUPLE_URL", Some("http://demo-user-couple.couple.svc:8081"))), "nicknames: {env:?}");
    assert!(desired.migrations.iter().all(|m| m.service != Component::Chat), "chat on SQLite migrates itself");

    let scaled = kind_example(|app| app.spec.services.chat.service.replicas = 2);
    assert!(scaled.services.stateful_sets.iter().all(|s| s.metadata.name.as_deref() != Some("demo-chat")));
    assert_migrated_first(&scaled, Component::Chat, "chat", "CHAT_DATABASE_URL");
}
