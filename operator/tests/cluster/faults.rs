//! Faults the operator must ride out without a restart and without a replica that leads and
//! reconciles nothing: the CRD installed after it started or deleted under it, a controller that
//! ends while leading, the Lease's namespace created after start, RBAC bound after start, and an
//! API server that is unreachable at start.
//!
//! The CRD test deletes the CRD, which would delete every other test's CoupleApps, so it runs on
//! a control plane of its own, `COUPLE_TEST_KUBECONFIG_SOLO` (`make test` starts it); the others
//! share `COUPLE_TEST_KUBECONFIG` like the rest of this binary.

use std::sync::atomic::AtomicU32;

use couple_operator::{faults::CRD_NAME, supervisor::LEASE_NAME};
use k8s_openapi::api::{core::v1::ServiceAccount, rbac::v1::RoleBinding};
use kube::config::Kubeconfig;
use tokio::{net::TcpListener, sync::Notify};

use super::*;

impl Replica {
    /// Waits until `/readyz` would name a reason containing `part`.
    async fn wait_not_ready_because(&self, part: &str) -> String {
        wait(&format!("not ready because {part:?}"), || async { self.ctx.health.not_ready_reason().filter(|reason| reason.contains(part)) })
            .await
    }

    async fn wait_ready(&self) {
        wait("the replica to be ready", || async { self.ctx.health.ready().then_some(()) }).await;
    }
}

/// The real controller, counting how often the supervisor starts it.
fn counting(starts: Arc<AtomicU32>) -> ControllerFn {
    let real = supervisor::real_controller();
    Arc::new(move |ctx, stop| {
        starts.fetch_add(1, Ordering::SeqCst);
        real(ctx, stop)
    })
}

async fn holder(client: &Client, namespace: &str) -> Option<String> {
    let lease = Api::<Lease>::namespaced(client.clone(), namespace).get_opt(LEASE_NAME).await.ok()??;
    lease.spec?.holder_identity
}

async fn wait_for_holder(client: &Client, namespace: &str, want: &str) {
    wait(&format!("{want} to hold the lease"), || async { (holder(client, namespace).await.as_deref() == Some(want)).then_some(()) }).await;
}

async fn create_app(client: &Client, namespace: &str, name: &str) {
    Api::<CoupleApp>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &app(name, spec()))
        .await
        .expect("CoupleApp created");
}

async fn delete_crd_and_wait(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let _ = crds.delete(CRD_NAME, &DeleteParams::default()).await;
    wait("the CRD to be gone", || async { crds.get_opt(CRD_NAME).await.ok().and_then(|crd| crd.is_none().then_some(())) }).await;
}

#[tokio::test]
async fn the_operator_waits_for_its_crd_and_rides_out_its_deletion_without_a_restart() {
    let Some(client) = client_from_env("COUPLE_TEST_KUBECONFIG_SOLO").await else { return };
    delete_crd_and_wait(&client).await;
    let ns = namespace(&client, "no-crd").await;
    let starts = Arc::new(AtomicU32::new(0));
    let replica = Replica::start(&client, &ns, &ns, "replica-a", counting(starts.clone()));

    // Started before its CRD: it leads, stays live, and says what it waits for.
    let reason = replica.wait_not_ready_because("CRD (coupleapps.couple.dev) is not installed").await;
    assert!(reason.starts_with("CoupleApp watch:"), "{reason}");
    wait_for_holder(&client, &ns, "replica-a").await;
    assert!(replica.ctx.health.live(), "{:?}", replica.ctx.health);

    let installed = tokio::time::Instant::now();
    install_crd(&client).await;
    create_app(&client, &ns, "demo").await;
    wait_for_phase(&client, &ns, "demo", Phase::Provisioning, NOTHING).await;
    println!("reconciled {:.1}s after the CRD was established", installed.elapsed().as_secs_f64());
    replica.wait_ready().await;

    // Deleted under it (its CoupleApps go with it), then created again.
    delete_crd_and_wait(&client).await;
    replica.wait_not_ready_because("CRD (coupleapps.couple.dev) is not installed").await;
    assert!(replica.ctx.health.leading() && replica.ctx.health.live(), "{:?}", replica.ctx.health);
    install_crd(&client).await;
    create_app(&client, &ns, "again").await;
    wait_for_phase(&client, &ns, "again", Phase::Provisioning, NOTHING).await;
    replica.wait_ready().await;

    assert_eq!(starts.load(Ordering::SeqCst), 1, "the controller was restarted");
    assert!(!replica.task.is_finished());
    replica.stop().await;
    assert_eq!(holder(&client, &ns).await, None, "the Lease is released on shutdown");
}

#[tokio::test]
async fn a_controller_that_ends_while_leading_releases_the_lease_to_a_standby_and_rejoins() {
    let Some(client) = test_client().await else { return };
    let ns = namespace(&client, "crash").await;
    // Replica A's controller panics on cue, once; started again, it is the real one.
    let crash = Arc::new(Notify::new());
    let crashed = Arc::new(AtomicU32::new(0));
    let faulty: ControllerFn = {
        let (crash, crashed) = (crash.clone(), crashed.clone());
        let real = supervisor::real_controller();
        Arc::new(move |ctx, stop| {
            let (crash, crashed, run) = (crash.clone(), crashed.clone(), real(ctx, stop));
            Box::pin(async move {
                if crashed.load(Ordering::SeqCst) > 0 {
                    return run.await;
                }
                tokio::select! {
                    result = run => result,
                    () = crash.notified() => {
                        crashed.fetch_add(1, Ordering::SeqCst);
                        panic!("injected fault");
                    }
                }
            })
        })
    };
    let a = Replica::start(&client, &ns, &ns, "replica-a", faulty);
    wait_for_holder(&client, &ns, "replica-a").await;
    create_app(&client, &ns, "demo").await;
    wait_for_phase(&client, &ns, "demo", Phase::Provisioning, NOTHING).await;
    let b = Replica::real(&client, &ns, "replica-b");
    b.wait_ready().await;
    assert!(!b.ctx.health.leading());

    crash.notify_one();
    let reason = a.wait_not_ready_because("injected fault").await;
    assert!(reason.contains("the controller ended (it panicked: injected fault); released the leader lease"), "{reason}");
    wait_for_holder(&client, &ns, "replica-b").await;
    assert!(!a.task.is_finished(), "replica A is still running, as a standby");
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    services.delete("demo-postgres", &DeleteParams::default()).await.unwrap();
    wait("replica B to restore the Service", || async { services.get_opt("demo-postgres").await.ok().flatten() }).await;
    assert!(b.ctx.writes.load(Ordering::SeqCst) > 0);

    // A rejoined the election: once B steps down, A leads again with a working controller.
    a.wait_ready().await;
    b.stop().await;
    wait_for_holder(&client, &ns, "replica-a").await;
    services.delete("demo-postgres", &DeleteParams::default()).await.unwrap();
    wait("replica A to restore the Service", || async { services.get_opt("demo-postgres").await.ok().flatten() }).await;
    a.wait_ready().await;
    a.stop().await;
}

#[tokio::test]
async fn a_controller_that_fails_without_leader_election_is_restarted() {
    let Some(client) = test_client().await else { return };
    let ns = namespace(&client, "restart").await;
    let starts = Arc::new(AtomicU32::new(0));
    let first_fails: ControllerFn = {
        let (starts, real) = (starts.clone(), supervisor::real_controller());
        Arc::new(move |ctx, stop| {
            let run = real(ctx, stop);
            let first = starts.fetch_add(1, Ordering::SeqCst) == 0;
            Box::pin(async move { if first { Err(anyhow::anyhow!("injected start-up error")) } else { run.await } })
        })
    };
    let settings = Settings { requeue_waiting: Duration::from_secs(1), namespace: Some(ns.clone()), ..Settings::default() };
    let ctx = Arc::new(Context::new(client.clone(), Arc::new(Health::new(Duration::from_secs(600))), settings.clone()));
    let config = RunConfig { leader_election: false, namespace: ns.clone(), identity: "solo".into(), settings };
    let (stop, stopped) = shutdown::channel();
    let task = tokio::spawn(supervisor::run(ctx.clone(), config, stopped, first_fails));
    create_app(&client, &ns, "demo").await;
    wait_for_phase(&client, &ns, "demo", Phase::Provisioning, NOTHING).await;
    assert_eq!(starts.load(Ordering::SeqCst), 2, "started again after the failure");
    wait("ready after the restart", || async { ctx.health.ready().then_some(()) }).await;
    stop.trigger();
    task.await.unwrap().expect("a clean stop");
}

#[tokio::test]
async fn a_lease_namespace_created_after_start_is_waited_for() {
    let Some(client) = test_client().await else { return };
    let ns = namespace(&client, "late-lease").await;
    let lease_ns = format!("late-lease-ops-{}", rand::random::<u32>());
    let replica = Replica::start(&client, &ns, &lease_ns, "replica-a", supervisor::real_controller());
    let reason = replica.wait_not_ready_because(&format!("the namespace {lease_ns:?} of the leader Lease")).await;
    assert!(reason.starts_with("leader election:"), "{reason}");
    assert!(!replica.ctx.health.leading() && !replica.task.is_finished());

    let created: Namespace = serde_json::from_value(json!({"metadata": {"name": lease_ns}})).unwrap();
    Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &created).await.unwrap();
    wait_for_holder(&client, &lease_ns, "replica-a").await;
    create_app(&client, &ns, "demo").await;
    wait_for_phase(&client, &ns, "demo", Phase::Provisioning, NOTHING).await;
    replica.wait_ready().await;
    replica.stop().await;
    let _ = Api::<Namespace>::all(client.clone()).delete(&lease_ns, &DeleteParams::default()).await;
}

/// The test kubeconfig with its user's token replaced by `token` and its server by `server`.
fn kubeconfig_with(token: Option<&str>, server: Option<&str>) -> Kubeconfig {
    let path = std::env::var("COUPLE_TEST_KUBECONFIG").expect("COUPLE_TEST_KUBECONFIG");
    let mut yaml: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    if let Some(token) = token {
        yaml["users"][0]["user"]["token"] = token.into();
    }
    if let Some(server) = server {
        yaml["clusters"][0]["cluster"]["server"] = server.into();
    }
    Kubeconfig::from_yaml(&serde_yaml::to_string(&yaml).unwrap()).expect("a kubeconfig")
}

#[tokio::test]
async fn rbac_bound_after_start_is_waited_for() {
    let Some(admin) = test_client().await else { return };
    let ns = namespace(&admin, "late-rbac").await;
    let account: ServiceAccount = serde_json::from_value(json!({"metadata": {"name": "operator"}})).unwrap();
    Api::<ServiceAccount>::namespaced(admin.clone(), &ns).create(&PostParams::default(), &account).await.unwrap();
    // Kubernetes 1.20 gives every ServiceAccount a token Secret.
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns);
    let token = wait("the ServiceAccount's token", || async {
        let list = secrets.list(&ListParams::default()).await.ok()?;
        let secret = list.items.into_iter().find(|s| {
            s.type_.as_deref() == Some("kubernetes.io/service-account-token")
                && s.annotations().get("kubernetes.io/service-account.name").map(String::as_str) == Some("operator")
        })?;
        String::from_utf8(secret.data?.get("token")?.0.clone()).ok()
    })
    .await;
    let client = client_for(kubeconfig_with(Some(&token), None)).await;

    let replica = Replica::real(&client, &ns, "replica-a");
    let reason = replica.wait_not_ready_because("forbidden").await;
    assert!(reason.contains("waiting for the operator's RBAC to be bound"), "{reason}");
    assert!(!replica.task.is_finished());

    // Everything in its namespace (the chart grants less, cluster-wide; chart-test checks that).
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "operator"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "operator", "namespace": ns}],
    }))
    .unwrap();
    Api::<RoleBinding>::namespaced(admin.clone(), &ns).create(&PostParams::default(), &binding).await.unwrap();
    wait_for_holder(&admin, &ns, "replica-a").await;
    create_app(&admin, &ns, "demo").await;
    wait_for_phase(&admin, &ns, "demo", Phase::Provisioning, NOTHING).await;
    replica.wait_ready().await;
    replica.stop().await;
}

#[tokio::test]
async fn an_api_server_unreachable_at_start_is_waited_for() {
    let Some(client) = test_client().await else { return };
    let ns = namespace(&client, "unreachable").await;
    // A port nothing listens on yet; later a plain TCP relay to the API server opens it.
    let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let real = kubeconfig_with(None, None).clusters[0].cluster.as_ref().and_then(|c| c.server.clone()).unwrap();
    let upstream = real.trim_start_matches("https://").trim_end_matches('/').to_owned();
    let relayed = client_for(kubeconfig_with(None, Some(&format!("https://127.0.0.1:{port}")))).await;

    let replica = Replica::real(&relayed, &ns, "replica-a");
    let reason = replica.wait_not_ready_because("the API server is unreachable").await;
    assert!(reason.starts_with("leader election:"), "{reason}");
    assert!(!replica.task.is_finished());

    let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("the port is still free");
    let relay = tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else { return };
            let upstream = upstream.clone();
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    wait_for_holder(&client, &ns, "replica-a").await;
    create_app(&client, &ns, "demo").await;
    wait_for_phase(&client, &ns, "demo", Phase::Provisioning, NOTHING).await;
    replica.wait_ready().await;
    replica.stop().await;
    relay.abort();
}
