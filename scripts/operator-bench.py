#!/usr/bin/env python3
"""Operator convergence benchmark (quality.md: one CoupleApp applied within 2 s, 100 within 60 s,
operator at most 50 MiB with 100 CoupleApps).

Runs the release `couple-operator` as its own process against the API server in $KUBECONFIG
(written by scripts/control-plane/cluster.sh) and measures two things:

1. First stages, the operator alone: one CoupleApp and then 100 more, until each has every object
   the operator can create before a database answers (generated Secrets, database StatefulSets and
   Services, NetworkPolicies) and phase Provisioning. No kubelet runs, so nothing gets further.
2. Every child, through every gate: one CoupleApp and then 100 more, with this script acting as the
   node (it marks the pods the controller manager creates as running and ready, and Job pods as
   succeeded, as the operator's integration tests do), until each is Ready: every child applied and
   available. This includes the controller manager's and the script's own reaction times, so it is
   an upper bound of the operator's share.

Writes bench/results/operator.md. Standard library only.
"""

import json
import os
import ssl
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
from common import free_port  # noqa: E402 - scripts/lib/common.py, shared with the other scripts

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "operator.md"
EXPECTED = {
    "secrets": ["{n}-jwt", "{n}-internal", "{n}-postgres-admin", "{n}-redis"],
    "statefulsets": ["{n}-postgres", "{n}-redis"],
    "networkpolicies": ["{n}-default-deny"],
}
GROUPS = {"secrets": "/api/v1", "statefulsets": "/apis/apps/v1", "networkpolicies": "/apis/networking.k8s.io/v1"}


def kubeconfig_credentials(path: str) -> tuple[str, str]:
    """Server and token from the kubeconfig the control-plane script writes (flat YAML)."""
    server = token = ""
    for line in Path(path).read_text().splitlines():
        key, _, value = line.strip().partition(":")
        if key == "server":
            server = value.strip().strip('"')
        elif key == "token":
            token = value.strip().strip('"')
    if not server or not token:
        sys.exit("operator-bench: the kubeconfig needs a server and a bearer token")
    return server, token


class Kube:
    def __init__(self, server: str, token: str):
        self.server, self.token = server.rstrip("/"), token
        self.tls = ssl._create_unverified_context()  # noqa: S323 - local control plane, self-signed

    def request(self, method: str, path: str, body=None, content_type="application/json"):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, context=self.tls, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"{}")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def coupleapp(name: str) -> dict:
    return {
        "apiVersion": "couple.dev/v1alpha1",
        "kind": "CoupleApp",
        "metadata": {"name": name},
        "spec": {"image": {"repository": "couple-platform", "tag": "0.1.0"}, "databases": {"postgres": {"managed": {}}, "redis": {"managed": {}}}},
    }


def create(kube: Kube, namespace: str, name: str) -> None:
    status, answer = kube.request("POST", "/api/v1/namespaces", {"metadata": {"name": namespace}})
    if status not in (201, 409):
        sys.exit(f"operator-bench: creating namespace {namespace}: {status} {answer}")
    status, answer = kube.request("POST", f"/apis/couple.dev/v1alpha1/namespaces/{namespace}/coupleapps", coupleapp(name))
    if status != 201:
        sys.exit(f"operator-bench: creating CoupleApp {namespace}/{name}: {status} {answer}")


def converged(kube: Kube, apps: list[tuple[str, str]]) -> int:
    """How many of (namespace, name) have every first-stage object and phase Provisioning."""
    label = "app.kubernetes.io%2Fmanaged-by%3Dcouple-operator"
    present = set()
    for kind, prefix in GROUPS.items():
        _, items = kube.request("GET", f"{prefix}/{kind}?labelSelector={label}")
        present |= {(kind, i["metadata"]["namespace"], i["metadata"]["name"]) for i in items.get("items", [])}
    _, listed = kube.request("GET", "/apis/couple.dev/v1alpha1/coupleapps")
    phases = {(a["metadata"]["namespace"], a["metadata"]["name"]): (a.get("status") or {}).get("phase") for a in listed.get("items", [])}
    done = 0
    for namespace, name in apps:
        objects = all((kind, namespace, t.format(n=name)) in present for kind, templates in EXPECTED.items() for t in templates)
        if objects and phases.get((namespace, name)) == "Provisioning":
            done += 1
    return done


def wait_converged(kube: Kube, apps: list[tuple[str, str]], started: float, limit: float) -> float:
    while True:
        if converged(kube, apps) == len(apps):
            return time.monotonic() - started
        if time.monotonic() - started > limit:
            return float("nan")
        time.sleep(0.05)


class Node:
    """Plays the kubelet for the namespaces starting with `prefix`, in a background thread: pods of
    StatefulSets and ReplicaSets become running and ready, pods of Jobs succeed; the controller
    manager derives the StatefulSet, Deployment and Job status from them, as in a real cluster."""

    def __init__(self, kube: Kube, prefix: str):
        self.kube, self.prefix = kube, prefix
        self.stop = threading.Event()
        self.pool = ThreadPoolExecutor(max_workers=8)
        self.thread = threading.Thread(target=self.run, daemon=True)

    def __enter__(self) -> "Node":
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        self.pool.shutdown()

    @staticmethod
    def status_for(pod: dict, now: str) -> dict | None:
        owners = pod["metadata"].get("ownerReferences") or [{}]
        phase = (pod.get("status") or {}).get("phase")
        if owners[0].get("kind") == "Job":
            return None if phase == "Succeeded" else {"status": {"phase": "Succeeded"}}
        if owners[0].get("kind") in ("StatefulSet", "ReplicaSet") and phase != "Running":
            ready = [{"type": t, "status": "True", "lastTransitionTime": now} for t in ("Initialized", "ContainersReady", "Ready")]
            return {"status": {"phase": "Running", "startTime": now, "conditions": ready}}
        return None

    def run(self) -> None:
        while not self.stop.is_set():
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            _, pods = self.kube.request("GET", "/api/v1/pods")
            patches = []
            for pod in pods.get("items", []):
                meta = pod["metadata"]
                if meta["namespace"].startswith(self.prefix) and (body := self.status_for(pod, now)) is not None:
                    path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status"
                    patches.append((path, body))
            list(self.pool.map(lambda p: self.kube.request("PATCH", p[0], p[1], "application/merge-patch+json"), patches))
            self.stop.wait(0.2)


def create_all(kube: Kube, apps: list[tuple[str, str]]) -> float:
    """Creates the CoupleApps 8 at a time (as `kubectl apply` of many files would); the seconds taken."""
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda app: create(kube, *app), apps))
    return time.monotonic() - started


def ready_count(kube: Kube, apps: list[tuple[str, str]]) -> int:
    _, listed = kube.request("GET", "/apis/couple.dev/v1alpha1/coupleapps")
    phases = {(a["metadata"]["namespace"], a["metadata"]["name"]): (a.get("status") or {}).get("phase") for a in listed.get("items", [])}
    return sum(1 for app in apps if phases.get(app) == "Ready")


def wait_ready(kube: Kube, apps: list[tuple[str, str]], started: float, limit: float) -> float:
    while True:
        if ready_count(kube, apps) == len(apps):
            return time.monotonic() - started
        if time.monotonic() - started > limit:
            print(f"operator-bench: only {ready_count(kube, apps)} of {len(apps)} Ready after {limit:.0f} s", file=sys.stderr)
            return float("nan")
        time.sleep(0.1)


def one_then_hundred(kube: Kube, prefix: str, wait, limit_one: float, limit_hundred: float) -> tuple[float, float, float]:
    """Creates `<prefix>-one`, waits for it, then 100 more at once: (seconds for one, seconds the
    100 creations took, seconds from their first creation until all 100 are done)."""
    started = time.monotonic()
    create(kube, f"{prefix}-one", "demo")
    one = wait(kube, [(f"{prefix}-one", "demo")], started, limit_one)
    apps = [(f"{prefix}-{i:03d}", "demo") for i in range(100)]
    started = time.monotonic()
    created = create_all(kube, apps)
    return one, created, wait(kube, apps, started, limit_hundred)


def main() -> None:
    kubeconfig = os.environ.get("KUBECONFIG") or sys.exit("operator-bench: KUBECONFIG is not set")
    binary = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target" / "release" / "couple-operator")
    kube = Kube(*kubeconfig_credentials(kubeconfig))
    crd_yaml = (ROOT / "crds" / "coupleapps.couple.dev.yaml").read_text()
    # Server-side apply accepts YAML bodies as they are.
    req = urllib.request.Request(
        kube.server + "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/coupleapps.couple.dev?fieldManager=operator-bench&force=true",
        data=crd_yaml.encode(), method="PATCH")
    req.add_header("Authorization", f"Bearer {kube.token}")
    req.add_header("Content-Type", "application/apply-patch+yaml")
    urllib.request.urlopen(req, context=kube.tls, timeout=30).read()
    time.sleep(2)

    port = free_port()
    env = dict(os.environ, RUST_LOG="warn", COUPLE_LOG_FORMAT="json")
    log = open(ROOT / ".tmp" / "operator-bench.log", "w")
    operator = subprocess.Popen([binary, "run", "--leader-election", "false", "--metrics-addr", f"127.0.0.1:{port}"], env=env, stdout=log, stderr=log)
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(1)
        idle = rss_mib(operator.pid)

        # Every child through every gate first, so the memory figure is for 101 Ready CoupleApps.
        with Node(kube, "bench-full-"):
            full_one, full_created, full_hundred = one_then_hundred(kube, "bench-full", wait_ready, 120, 600)
        time.sleep(5)
        loaded_full = rss_mib(operator.pid)

        # Then the operator alone, with those 101 in the background.
        one, created, hundred = one_then_hundred(kube, "bench", wait_converged, 60, 180)
        time.sleep(5)
        loaded = rss_mib(operator.pid)
    finally:
        operator.terminate()
        operator.wait(timeout=30)

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(f"""# Operator benchmark

Generated by `make bench-operator` on {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}, {os.cpu_count()} cores: the release
`couple-operator` (leader election off) against the local kube-apiserver 1.20 and controller manager
started by the script, the benchmark on the same machine. Each CoupleApp is in its own namespace, with
managed PostgreSQL and Redis and every service enabled.

First stages, the operator alone (with the 101 Ready CoupleApps below in the background): every
object the operator can create before a database answers (generated Secrets, database StatefulSets
and Services, NetworkPolicies) and phase Provisioning (no kubelet runs, so no database answers).

| scenario | time to first stages applied (s) | target |
|---|---|---|
| 1 CoupleApp | {one:.2f} | at most 2 |
| 100 CoupleApps (created in {created:.1f} s) | {hundred:.2f} | at most 60 |

Every child through every gate: the benchmark plays the node (pods of StatefulSets and ReplicaSets
become ready, Job pods succeed) until phase Ready, i.e. every child applied and available. This adds
the controller manager's and the benchmark's own reaction times (pods created and their status
written, polled every 0.2 s), so it bounds the operator's share from above.

| scenario | time to Ready (s) | target |
|---|---|---|
| 1 CoupleApp | {full_one:.2f} | at most 2 |
| 100 CoupleApps (created in {full_created:.1f} s) | {full_hundred:.2f} | at most 60 |

| operator resident memory | MiB | target |
|---|---|---|
| idle | {idle:.1f} | |
| with 101 CoupleApps Ready | {loaded_full:.1f} | at most 50 |
| with those and 101 more at their first stages | {loaded:.1f} | |
""")
    print(RESULTS.read_text())


if __name__ == "__main__":
    main()
