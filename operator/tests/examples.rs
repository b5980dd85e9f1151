//! The example CoupleApps under `examples/` parse and pass validation, so they stay correct as
//! the CRD evolves.

use couple_operator::{crd::CoupleApp, validate::validate};

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

/// `make kind-up` runs question-answer and schedule-meeting: each one's migration Job is
/// `<binary> migrate` with the service's own database URL (no MongoDB URL, since the example
/// configures no MongoDB), and its Deployment is held back until the Job succeeds.
#[test]
fn the_kind_example_migrates_its_services_with_their_database_urls() {
    use couple_operator::builders::{
        Component, Platform,
        desired::{Inputs, desired},
        secret::Entropy,
    };
    use rand::{SeedableRng, rngs::StdRng};

    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/kind.yaml")).unwrap();
    let mut app: CoupleApp = serde_yaml::from_str(&text).unwrap();
    // As the API server returns it.
    app.metadata.uid = Some("0b9c1e6a-1111-4222-8333-444455556666".into());
    let platform = Platform::new(&app).unwrap();
    let desired = desired(&platform, &Inputs::new(Entropy::from_rng(&mut StdRng::seed_from_u64(7))));
    for (component, binary, variable) in [
        (Component::QuestionAnswer, "question-answer", "QUESTION_ANSWER_DATABASE_URL"),
        (Component::ScheduleMeeting, "schedule-meeting", "SCHEDULE_MEETING_DATABASE_URL"),
    ] {
        let migration = desired.migrations.iter().find(|m| m.service == component).unwrap_or_else(|| panic!("{binary} is enabled"));
        let job = migration.job.as_ref().expect("a Job until its success is recorded");
        let container = &job.spec.as_ref().unwrap().template.spec.as_ref().unwrap().containers[0];
        assert_eq!(container.command.as_deref(), Some(&[binary.to_owned(), "migrate".to_owned()][..]));
        let env = container.env.as_deref().unwrap_or_default();
        let database_url = env.iter().find(|v| v.name == variable).unwrap_or_else(|| panic!("{variable}"));
        let secret = database_url.value_from.as_ref().and_then(|from| from.secret_key_ref.as_ref()).expect("from a Secret");
        assert_eq!((secret.name.as_str(), secret.key.as_str()), (format!("demo-db-{binary}").as_str(), "url"));
        assert!(!env.iter().any(|v| v.name.contains("MONGODB")), "no MongoDB in the kind example");
        let deployment = format!("demo-{binary}");
        assert!(
            desired.services.deployments.iter().all(|d| d.metadata.name.as_deref() != Some(&deployment)),
            "{binary} held until migrated"
        );
    }
}
