#!/usr/bin/env python3
"""Checks of charts/couple-operator through Helm's own SDK (the helm-python-sdk package).

1. `helm lint` (strict, for Kubernetes 1.20 and for the default version): no warning, no error.
2. values.schema.json accepts the defaults and rejects wrong values.
3. The templates rendered with the default values and with variants (coupleApp.enabled, leader
   election off, two replicas): RBAC rules, security contexts, probes, env, the CRD copy.
4. With COUPLE_TEST_KUBECONFIG set: install into a fresh namespace of that API server, check the
   objects exist, ask the API server's authorizer (SubjectAccessReview) what the ServiceAccount may
   and may not do, send the operator's kinds of request with its token, upgrade, uninstall, and
   check that the CRD stays.
   With --operator-bin as well (scripts/chart-test.sh builds the operator), between install and
   upgrade (4b): run the real operator binary locally with a TokenRequest token of the chart's
   ServiceAccount and leader election on. It must become ready, take the Lease, bring a CoupleApp
   (examples/minimal.yaml) to Provisioning with its owned children, ride out a restart of
   kube-apiserver (when the kubeconfig comes from scripts/control-plane/cluster.sh: still running,
   healthy again, watches resumed), on SIGTERM exit 0 within 10 s and release the Lease, and never
   be denied (no forbidden/403 in its log, except while the restarted API server is starting).

Run through scripts/chart-test.sh, which prepares the virtual environment.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import secrets
import signal
import ssl
import subprocess
import sys
import time
import traceback
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import helm_python as helm
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))
from common import free_port  # noqa: E402 - scripts/lib/common.py, shared with the other scripts

REPO = Path(__file__).resolve().parent.parent
CHART = REPO / "charts" / "couple-operator"
CRD_NAME = "coupleapps.couple.dev"
LEASE = "couple-operator"
OWNED_VERBS = {"get", "list", "watch", "create", "patch", "delete"}

# (apiGroup, resource) -> the exact verbs the ClusterRole must grant, from the operator's code.
EXPECTED_CLUSTER_RULES = {
    ("couple.dev", "coupleapps"): {"get", "list", "watch"},
    ("couple.dev", "coupleapps/status"): {"patch"},
    ("couple.dev", "coupleapps/finalizers"): {"update"},
    ("", "secrets"): OWNED_VERBS,
    ("", "configmaps"): OWNED_VERBS,
    ("", "services"): OWNED_VERBS,
    ("apps", "deployments"): OWNED_VERBS,
    ("apps", "statefulsets"): OWNED_VERBS,
    ("batch", "jobs"): OWNED_VERBS,
    ("networking.k8s.io", "ingresses"): OWNED_VERBS,
    ("networking.k8s.io", "networkpolicies"): OWNED_VERBS,
    ("policy", "poddisruptionbudgets"): OWNED_VERBS,
    ("events.k8s.io", "events"): {"create", "patch"},
    ("", "persistentvolumeclaims"): {"list", "patch"},
}

failures: list[str] = []


def check(condition: bool, what: str) -> None:
    print(f"  {'ok  ' if condition else 'FAIL'} {what}")
    if not condition:
        failures.append(what)


def section(title: str) -> None:
    print(f"\n== {title}")


# --------------------------------------------------------------------------- rendering helpers


def render(chart: helm.Chart, values: dict | None = None, *, name: str = "rel", namespace: str = "ops") -> dict[str, str]:
    return chart.render(values or {}, name=name, namespace=namespace, is_install=True)


def objects(rendered: dict[str, str]) -> list[dict]:
    docs = []
    for path, text in rendered.items():
        if path.endswith("NOTES.txt"):
            continue
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


def find(docs: list[dict], kind: str, name: str | None = None) -> list[dict]:
    return [d for d in docs if d.get("kind") == kind and (name is None or d["metadata"]["name"] == name)]


def one(docs: list[dict], kind: str) -> dict:
    found = find(docs, kind)
    check(len(found) == 1, f"exactly one {kind} (found {len(found)})")
    return found[0] if found else {}


def grants(rules: list[dict]) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        for group in rule.get("apiGroups", []):
            for resource in rule.get("resources", []):
                out.setdefault((group, resource), set()).update(rule.get("verbs", []))
    return out


def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


# --------------------------------------------------------------------------------- 1. lint


def test_lint() -> None:
    section("1. helm lint")
    for label, kwargs in [
        ("strict, Kubernetes 1.20", {"strict": True, "kube_version": "v1.20.2"}),
        ("strict, default Kubernetes version", {"strict": True}),
        ("strict, coupleApp.enabled", {"strict": True, "values": {"coupleApp": {"enabled": True}}}),
        ("strict, two replicas, no metrics Service", {"strict": True, "values": {"replicas": 2, "metrics": {"service": {"enabled": False}}}}),
    ]:
        report = helm.lint(str(CHART), **kwargs)
        problems = [m for m in report["messages"] if m["severity"] >= 2] + [{"error": e} for e in report["errors"]]
        infos = [m["error"] for m in report["messages"] if m["severity"] < 2]
        check(not problems, f"lint {label}: no warnings or errors {problems or ''}".rstrip())
        if infos:
            print(f"       (info only: {'; '.join(infos)})")


# ------------------------------------------------------------------------------- 2. schema


def test_schema(chart: helm.Chart) -> None:
    section("2. values.schema.json")
    try:
        chart.validate_schema({})
        chart.validate_schema({"replicas": 2, "logFormat": "text", "coupleApp": {"enabled": True, "name": "shop"}})
        check(True, "accepts the defaults and sensible overrides")
    except helm.HelmError as err:
        check(False, f"accepts the defaults and sensible overrides: {err}")
    bad = {
        "logFormat: xml": {"logFormat": "xml"},
        "replicas: -1": {"replicas": -1},
        "replicas: '2' (a string)": {"replicas": "2"},
        "metrics.port: 70000": {"metrics": {"port": 70000}},
        "image.pullPolicy: Sometimes": {"image": {"pullPolicy": "Sometimes"}},
        "an unknown top-level key (a typo)": {"replica": 2},
        "leaderElection.enabled: 'yes'": {"leaderElection": {"enabled": "yes"}},
        "coupleApp.name: Not_A_Name": {"coupleApp": {"enabled": True, "name": "Not_A_Name"}},
    }
    for label, values in bad.items():
        try:
            chart.validate_schema(values)
            check(False, f"rejects {label}")
        except helm.HelmError:
            check(True, f"rejects {label}")


# ------------------------------------------------------------------------------ 3. render


def test_rbac_comments() -> None:
    # One comment per rule: the line before every `- apiGroups:` is a comment.
    lines = (CHART / "templates" / "rbac.yaml").read_text().splitlines()
    uncommented = [i + 1 for i, line in enumerate(lines) if line.strip().startswith("- apiGroups:") and not lines[i - 1].strip().startswith("#")]
    check(not uncommented, f"every RBAC rule has a comment right above it {uncommented or ''}".rstrip())


def test_render_defaults(chart: helm.Chart) -> None:
    section("3a. render with default values")
    rendered = render(chart)
    docs = objects(rendered)
    kinds = sorted(d["kind"] for d in docs)
    print(f"       kinds: {', '.join(kinds)}")
    check(not find(docs, "CoupleApp"), "no CoupleApp by default")
    check(all(d["metadata"].get("namespace") == "ops" for d in docs if d["kind"] not in ("ClusterRole", "ClusterRoleBinding")), "namespaced objects go to the release namespace")

    sa = one(docs, "ServiceAccount")
    role = one(docs, "ClusterRole")
    binding = one(docs, "ClusterRoleBinding")
    deployment = one(docs, "Deployment")
    check(binding.get("roleRef", {}).get("name") == role["metadata"]["name"], "the ClusterRoleBinding binds the ClusterRole")
    check(binding.get("subjects") == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": "ops"}], "... to the ServiceAccount")

    granted = grants(role["rules"])
    for key, verbs in EXPECTED_CLUSTER_RULES.items():
        check(granted.get(key) == verbs, f"ClusterRole grants {key[0] or 'core'}/{key[1]}: {sorted(verbs)} (has {sorted(granted.get(key, []))})")
    extra = set(granted) - set(EXPECTED_CLUSTER_RULES)
    check(not extra, f"ClusterRole grants nothing else {sorted(extra) or ''}".rstrip())
    check(not any("*" in (r.get("verbs", []) + r.get("resources", []) + r.get("apiGroups", [])) for r in role["rules"]), "no wildcards")
    check(("coordination.k8s.io", "leases") not in granted, "Leases are not granted cluster-wide")
    test_rbac_comments()

    lease_role = find(docs, "Role")
    check(len(lease_role) == 1, "one namespaced Role (leader election)")
    if lease_role:
        rules = lease_role[0]["rules"]
        named = [r for r in rules if r.get("resourceNames")]
        unnamed = [r for r in rules if not r.get("resourceNames")]
        check(all(r["apiGroups"] == ["coordination.k8s.io"] and r["resources"] == ["leases"] for r in rules), "the Role is about Leases only")
        check(len(named) == 1 and named[0]["resourceNames"] == [LEASE] and set(named[0]["verbs"]) == {"get", "patch"}, f"get/patch only on the Lease {LEASE}")
        check(len(unnamed) == 1 and unnamed[0]["verbs"] == ["create"], "create (not limitable by name) is the only unnamed verb")
        rb = find(docs, "RoleBinding")
        check(len(rb) == 1 and rb[0]["roleRef"]["name"] == lease_role[0]["metadata"]["name"] and rb[0]["subjects"][0]["name"] == sa["metadata"]["name"], "a RoleBinding binds it to the ServiceAccount")

    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    check(spec["replicas"] == 1, "one replica by default")
    check(pod.get("serviceAccountName") == sa["metadata"]["name"], "the Pod runs as the chart's ServiceAccount")
    check(set(spec["selector"]["matchLabels"].items()) <= set(spec["template"]["metadata"]["labels"].items()), "the selector matches the Pod labels")
    psc = pod.get("securityContext", {})
    check(psc.get("runAsNonRoot") is True and psc.get("runAsUser") == 65532 and psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", "Pod: non-root 65532, seccomp RuntimeDefault")
    (container,) = pod["containers"]
    check(container["image"] == "couple-platform:0.1.0", f"image couple-platform:<appVersion> ({container['image']})")
    check(container.get("command") == ["couple-operator", "run"], "command couple-operator run (the image has no entrypoint)")
    sc = container.get("securityContext", {})
    check(sc.get("readOnlyRootFilesystem") is True, "container: read-only root filesystem")
    check(sc.get("allowPrivilegeEscalation") is False, "container: no privilege escalation")
    check(sc.get("capabilities", {}).get("drop") == ["ALL"] and not sc.get("capabilities", {}).get("add"), "container: drops ALL capabilities")
    check(sc.get("runAsNonRoot") is True and sc.get("runAsUser") == 65532, "container: non-root 65532")
    check(sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", "container: seccomp RuntimeDefault")
    env = env_of(container)
    check(env.get("POD_NAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name", "POD_NAME from the downward API")
    check(env.get("POD_NAMESPACE", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.namespace", "POD_NAMESPACE from the downward API")
    check(env.get("COUPLE_OPERATOR_METRICS_ADDR", {}).get("value") == "0.0.0.0:8080", "COUPLE_OPERATOR_METRICS_ADDR=0.0.0.0:8080")
    check(env.get("COUPLE_OPERATOR_LEADER_ELECTION", {}).get("value") == "true", "COUPLE_OPERATOR_LEADER_ELECTION=true")
    check(env.get("COUPLE_LOG_FORMAT", {}).get("value") == "json", "COUPLE_LOG_FORMAT=json")
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    check(ports == {"metrics": 8080}, "container port metrics=8080")
    for probe, path in (("livenessProbe", "/livez"), ("readinessProbe", "/readyz")):
        get = container.get(probe, {}).get("httpGet", {})
        check(get.get("path") == path and get.get("port") == "metrics", f"{probe}: GET {path} on the metrics port")
    check(bool(container.get("resources", {}).get("requests")), "resource requests set")

    svc = one(docs, "Service")
    check(svc.get("spec", {}).get("ports", [{}])[0].get("targetPort") == "metrics" and svc["spec"]["selector"] == spec["selector"]["matchLabels"], "the metrics Service targets the operator's Pods")

    notes = next((t for p, t in rendered.items() if p.endswith("NOTES.txt")), "")
    check("examples/minimal.yaml" in notes and "get capp -w" in notes and "kubectl apply --server-side --force-conflicts -f crds/" in notes, "NOTES.txt points at examples/, `get capp -w` and the CRD upgrade")

    crds = chart.crds
    check([c["name"] for c in crds] == ["couple-operator/crds/coupleapps.couple.dev.yaml"] or len(crds) == 1, "the chart ships one CRD under crds/")
    repo_crd = (REPO / "crds" / "coupleapps.couple.dev.yaml").read_text()
    check((CHART / "crds" / "coupleapps.couple.dev.yaml").read_text() == repo_crd, "crds/ of the chart is identical to the repository's crds/ (copy it again when the CRD changes)")


def test_render_variants(chart: helm.Chart) -> None:
    section("3b. render with coupleApp.enabled and other variants")
    docs = objects(render(chart, {"coupleApp": {"enabled": True}}))
    apps = find(docs, "CoupleApp")
    check(len(apps) == 1, "coupleApp.enabled renders one CoupleApp")
    if apps:
        app = apps[0]
        example = yaml.safe_load((REPO / "examples" / "minimal.yaml").read_text())
        check(app["apiVersion"] == "couple.dev/v1alpha1" and app["metadata"]["name"] == "demo" and app["metadata"]["namespace"] == "ops", "CoupleApp couple.dev/v1alpha1 demo in the release namespace")
        check(app["spec"] == example["spec"], "its default spec is the one of examples/minimal.yaml")

    docs = objects(render(chart, {"coupleApp": {"enabled": True, "name": "shop", "namespace": "apps", "spec": {"image": {"repository": "r", "tag": "t"}}}}))
    app = (find(docs, "CoupleApp") or [{}])[0]
    check(app.get("metadata", {}).get("namespace") == "apps" and app.get("spec") == {"image": {"repository": "r", "tag": "t"}}, "name, namespace and spec come from values")

    docs = objects(render(chart, {"leaderElection": {"enabled": False}}))
    dep = one(docs, "Deployment")
    env = env_of(dep["spec"]["template"]["spec"]["containers"][0]) if dep else {}
    check(env.get("COUPLE_OPERATOR_LEADER_ELECTION", {}).get("value") == "false", "leaderElection.enabled=false reaches the operator")
    check(not find(docs, "Role") and not find(docs, "RoleBinding"), "... and drops the Lease Role")

    docs = objects(render(chart, {"replicas": 2}))
    check(one(docs, "Deployment").get("spec", {}).get("replicas") == 2, "replicas=2 with leader election")
    try:
        render(chart, {"replicas": 2, "leaderElection": {"enabled": False}})
        check(False, "replicas=2 without leader election fails to render")
    except helm.HelmError as err:
        check("leaderElection" in str(err), "replicas=2 without leader election fails to render, saying why")

    docs = objects(render(chart, {"serviceAccount": {"create": False, "name": "existing"}, "metrics": {"port": 9090, "service": {"enabled": False}}, "logFormat": "text", "image": {"tag": "dev"}}))
    dep = one(docs, "Deployment")
    pod = dep.get("spec", {}).get("template", {}).get("spec", {})
    container = pod.get("containers", [{}])[0]
    check(not find(docs, "ServiceAccount") and pod.get("serviceAccountName") == "existing", "serviceAccount.create=false uses the named one")
    check(one(docs, "ClusterRoleBinding").get("subjects", [{}])[0].get("name") == "existing", "... and binds the role to it")
    check(not find(docs, "Service"), "metrics.service.enabled=false drops the Service")
    check(env_of(container).get("COUPLE_OPERATOR_METRICS_ADDR", {}).get("value") == "0.0.0.0:9090" and container.get("ports", [{}])[0].get("containerPort") == 9090, "metrics.port reaches the env and the port")
    check(env_of(container).get("COUPLE_LOG_FORMAT", {}).get("value") == "text", "logFormat reaches the env")
    check(container.get("image") == "couple-platform:dev", "image.tag overrides appVersion")

    docs = objects(render(chart, {"rbac": {"create": False}}))
    check(not any(d["kind"] in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding") for d in docs), "rbac.create=false renders no RBAC")


# ------------------------------------------------------------------------ 4. a real API server


class Kube:
    """The few REST calls the cluster test needs, with the kubeconfig's credentials."""

    def __init__(self, kubeconfig: str):
        config = yaml.safe_load(Path(kubeconfig).read_text())
        context_name = config.get("current-context")
        context = next(c["context"] for c in config["contexts"] if c["name"] == context_name)
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
        user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
        self.server = cluster["server"].rstrip("/")
        self.token = user.get("token")
        if not self.token:
            raise SystemExit("the cluster test needs a kubeconfig with a bearer token")
        if cluster.get("insecure-skip-tls-verify"):
            self.tls = ssl._create_unverified_context()  # noqa: S323 - the kubeconfig asks for it
        else:
            self.tls = ssl.create_default_context()
            if "certificate-authority-data" in cluster:
                self.tls.load_verify_locations(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
            elif "certificate-authority" in cluster:
                self.tls.load_verify_locations(cafile=cluster["certificate-authority"])

    def request(self, method: str, path: str, body: dict | None = None, *, token: str | None = None, content_type: str = "application/json") -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {token or self.token}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, context=self.tls, timeout=30) as resp:
                # A watch answers one JSON event per line; the first is enough.
                return resp.status, json.JSONDecoder().raw_decode((resp.read() or b"{}").decode())[0]
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"{}")

    def exists(self, path: str) -> bool:
        return self.request("GET", path)[0] == 200

    def can(self, user: str, verb: str, group: str, resource: str, namespace: str = "", name: str = "", subresource: str = "") -> bool:
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": user,
                "groups": ["system:serviceaccounts", f"system:serviceaccounts:{user.split(':')[2]}", "system:authenticated"],
                "resourceAttributes": {"verb": verb, "group": group, "resource": resource, "namespace": namespace, "name": name, "subresource": subresource},
            },
        }
        status, answer = self.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review)
        if status != 201:
            raise RuntimeError(f"SubjectAccessReview failed: {status} {answer}")
        return bool(answer.get("status", {}).get("allowed"))

    def service_account_token(self, namespace: str, name: str, seconds: float = 30) -> str:
        """The token Secret Kubernetes < 1.24 creates for every ServiceAccount."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            _, found = self.request("GET", f"/api/v1/namespaces/{namespace}/secrets?fieldSelector=type%3Dkubernetes.io%2Fservice-account-token")
            for secret in found.get("items", []):
                if secret["metadata"].get("annotations", {}).get("kubernetes.io/service-account.name") == name and "token" in secret.get("data", {}):
                    return base64.b64decode(secret["data"]["token"]).decode()
            time.sleep(0.5)
        raise RuntimeError(f"no token Secret for {namespace}/{name} (Kubernetes 1.24+ creates none; use TokenRequest)")

    def wait_gone(self, path: str, seconds: float = 60) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not self.exists(path):
                return True
            time.sleep(1)
        return False


def test_requests_as_service_account(kube: Kube, namespace: str, account: str, app_namespace: str) -> None:
    """The operator's own kinds of request, sent with the ServiceAccount's token (not the operator)."""
    token = kube.service_account_token(namespace, account)
    apps = "/apis/couple.dev/v1alpha1"
    apply = "application/apply-patch+yaml"
    _, app = kube.request("GET", f"{apps}/namespaces/{app_namespace}/coupleapps/demo")
    owner = {"apiVersion": "couple.dev/v1alpha1", "kind": "CoupleApp", "name": "demo", "uid": app["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}
    steps = [
        ("list CoupleApps in all namespaces", "GET", f"{apps}/coupleapps", None, "application/json", 200),
        ("watch CoupleApps (one page)", "GET", f"{apps}/coupleapps?watch=1&timeoutSeconds=1", None, "application/json", 200),
        ("server-side apply a CoupleApp's status", "PATCH", f"{apps}/namespaces/{app_namespace}/coupleapps/demo/status?fieldManager=chart-test-status&force=true",
         {"apiVersion": "couple.dev/v1alpha1", "kind": "CoupleApp", "status": {"observedGeneration": 1}}, apply, 200),
        ("server-side apply a ConfigMap owned by the CoupleApp", "PATCH", f"/api/v1/namespaces/{app_namespace}/configmaps/chart-test?fieldManager=chart-test&force=true",
         {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "chart-test", "labels": {"app.kubernetes.io/managed-by": "chart-test"}, "ownerReferences": [owner]}, "data": {"a": "b"}}, apply, 201),
        ("list managed ConfigMaps by label", "GET", f"/api/v1/namespaces/{app_namespace}/configmaps?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dchart-test", None, "application/json", 200),
        ("delete that ConfigMap", "DELETE", f"/api/v1/namespaces/{app_namespace}/configmaps/chart-test", None, "application/json", 200),
        ("create an events.k8s.io/v1 Event", "POST", f"/apis/events.k8s.io/v1/namespaces/{app_namespace}/events",
         {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "chart-test.1"}, "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime()),
          "reportingController": "chart-test", "reportingInstance": "chart-test", "action": "Test", "reason": "Test", "type": "Normal", "note": "chart test",
          "regarding": {"apiVersion": "couple.dev/v1alpha1", "kind": "CoupleApp", "namespace": app_namespace, "name": "demo"}}, "application/json", 201),
        ("create the Lease couple-operator in the release namespace", "POST", f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases",
         {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": LEASE}, "spec": {}}, "application/json", 201),
        ("renew it by strategic merge patch", "PATCH", f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{LEASE}",
         {"spec": {"holderIdentity": "chart-test", "leaseDurationSeconds": 15}}, "application/strategic-merge-patch+json", 200),
        ("read it back", "GET", f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{LEASE}", None, "application/json", 200),
        ("(denied) create a Lease in another namespace", "POST", f"/apis/coordination.k8s.io/v1/namespaces/{app_namespace}/leases",
         {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": LEASE}, "spec": {}}, "application/json", 403),
        ("(denied) delete the Lease", "DELETE", f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{LEASE}", None, "application/json", 403),
        ("(denied) list Pods", "GET", f"/api/v1/namespaces/{app_namespace}/pods", None, "application/json", 403),
        ("(denied) patch a CoupleApp's spec", "PATCH", f"{apps}/namespaces/{app_namespace}/coupleapps/demo", {"metadata": {"labels": {"x": "y"}}}, "application/merge-patch+json", 403),
    ]
    for what, method, path, body, content_type, expected in steps:
        status, answer = kube.request(method, path, body, token=token, content_type=content_type)
        detail = "" if status == expected else f": {answer.get('message', answer)}"
        check(status == expected, f"as the ServiceAccount's token: {what} -> {status} (want {expected}){detail}")


# -------------------------------------------------------------- 4b. the real operator binary


CHILD_KINDS = {
    # kind: (list path in a namespace, names that must be among them)
    "Secret": ("/api/v1/namespaces/{ns}/secrets", set()),
    "StatefulSet": ("/apis/apps/v1/namespaces/{ns}/statefulsets", {"demo-postgres", "demo-redis"}),
    "Service": ("/api/v1/namespaces/{ns}/services", {"demo-postgres", "demo-redis"}),
    "NetworkPolicy": ("/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies", set()),
}
OPERATOR_WORK_DIR = REPO / ".tmp" / "chart-test"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
DENIED = re.compile(r"forbidden|\b(code|status)\W{0,3}403\b", re.IGNORECASE)


def wait_until(predicate: Callable[[], object], seconds: float, interval: float = 0.5) -> bool:
    """Polls `predicate` until it is truthy or `seconds` pass; True if it became truthy."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if predicate():
                return True
        except (OSError, urllib.error.URLError, ValueError):
            pass  # the API server or the operator is (re)starting
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def service_account_kubeconfig(kube: Kube, admin_kubeconfig: str, namespace: str, account: str, path: Path, seconds: int = 600) -> None:
    """A kubeconfig for `account`: a TokenRequest token, the admin kubeconfig's server and CA settings."""
    request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": seconds}}
    status, answer = kube.request("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token", request)
    if status != 201:
        raise RuntimeError(f"TokenRequest for {namespace}/{account} failed: {status} {answer.get('message', answer)}")
    admin = yaml.safe_load(Path(admin_kubeconfig).read_text())
    context = next(c["context"] for c in admin["contexts"] if c["name"] == admin.get("current-context"))
    cluster = next(c["cluster"] for c in admin["clusters"] if c["name"] == context["cluster"])
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "cluster", "cluster": cluster}],
        "users": [{"name": account, "user": {"token": answer["status"]["token"]}}],
        "contexts": [{"name": account, "context": {"cluster": "cluster", "user": account, "namespace": namespace}}],
        "current-context": account,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(config, f)


class Operator:
    """The couple-operator binary, run locally as `couple-operator run --leader-election=true`."""

    def __init__(self, binary: str, kubeconfig: Path, namespace: str, identity: str, log_path: Path):
        self.binary, self.kubeconfig, self.namespace, self.identity, self.log_path = binary, kubeconfig, namespace, identity, log_path
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "POD_NAMESPACE": self.namespace, "POD_NAME": self.identity}
        env.pop("COUPLE_OPERATOR_LEADER_ELECTION", None)
        env.pop("COUPLE_OPERATOR_METRICS_ADDR", None)
        args = [self.binary, "run", "--leader-election=true", f"--metrics-addr=127.0.0.1:{self.port}", "--log-format=text"]
        with self.log_path.open("wb") as log:
            # Own session: a Ctrl-C aimed at the test does not reach it; stop() and the finally do.
            self.process = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def get(self, path: str) -> int:
        """HTTP status of GET `path` on the metrics address (0: no answer)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as resp:
                return resp.status
        except urllib.error.HTTPError as err:
            return err.code
        except OSError:
            return 0

    def terminate(self, seconds: float) -> tuple[int | None, float]:
        """SIGTERM, then wait up to `seconds`: (exit status or None if still running, seconds taken)."""
        if self.process is None:
            return None, 0.0
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=seconds), time.monotonic() - started
        except subprocess.TimeoutExpired:
            return None, time.monotonic() - started

    def kill(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.kill()
            self.process.wait(timeout=10)

    def log_text(self) -> str:
        """The log so far, without the colour codes of the text format."""
        try:
            return ANSI.sub("", self.log_path.read_text(errors="replace"))
        except OSError:
            return ""

    def denials(self, start: int = 0, end: int | None = None) -> list[str]:
        """Log lines (from character `start` to `end`) that report a 403 / forbidden answer."""
        return [line for line in self.log_text()[start:end].splitlines() if DENIED.search(line)]

    def print_log_tail(self, lines: int = 60) -> None:
        print(f"       --- last {lines} lines of {self.log_path.relative_to(REPO)} ---")
        for line in self.log_text().splitlines()[-lines:]:
            print(f"       | {line}")
        print("       ---")


def control_plane_dir(kubeconfig: str) -> Path | None:
    """The state dir of scripts/control-plane/cluster.sh the kubeconfig belongs to, if it does."""
    state = Path(kubeconfig).resolve().parent
    return state if (state / ".couple-control-plane").is_file() else None


def lease_holder(kube: Kube, namespace: str) -> str | None:
    status, lease = kube.request("GET", f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{LEASE}")
    return lease.get("spec", {}).get("holderIdentity") if status == 200 else None


def phase_of(kube: Kube, namespace: str, name: str) -> str | None:
    status, app = kube.request("GET", f"/apis/couple.dev/v1alpha1/namespaces/{namespace}/coupleapps/{name}")
    return app.get("status", {}).get("phase") if status == 200 else None


def owned_children(kube: Kube, namespace: str, owner_uid: str) -> dict[str, set[str]]:
    """Per kind, the names of the objects the CoupleApp with `owner_uid` controls."""
    owned: dict[str, set[str]] = {}
    for kind, (path, _) in CHILD_KINDS.items():
        _, found = kube.request("GET", path.format(ns=namespace))
        owned[kind] = {
            item["metadata"]["name"]
            for item in found.get("items", [])
            if any(ref.get("uid") == owner_uid and ref.get("controller") for ref in item["metadata"].get("ownerReferences", []))
        }
    return owned


def children_complete(owned: dict[str, set[str]]) -> bool:
    return all(owned.get(kind) and names <= owned[kind] for kind, (_, names) in CHILD_KINDS.items())


def uid_of(kube: Kube, path: str) -> str | None:
    status, obj = kube.request("GET", path)
    return obj["metadata"]["uid"] if status == 200 else None


def test_operator_reconciles(kube: Kube, operator: Operator, namespace: str, op_namespace: str) -> str | None:
    """Ready, leading, and a CoupleApp reaches Provisioning with its children; returns its uid."""
    ready = wait_until(lambda: operator.get("/readyz") == 200 or not operator.alive(), 60) and operator.alive()
    check(ready, f"the operator runs and its /readyz answers 200 (127.0.0.1:{operator.port}){'' if operator.alive() else '; it exited with status ' + str(operator.process and operator.process.returncode)}")
    if not operator.alive():
        return None
    check(wait_until(lambda: lease_holder(kube, namespace) == operator.identity, 60), f"the Lease {LEASE} in {namespace} names {operator.identity} (holder: {lease_holder(kube, namespace)})")

    status, _ = kube.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": op_namespace}})
    check(status == 201, f"created the namespace {op_namespace}")
    app = yaml.safe_load((REPO / "examples" / "minimal.yaml").read_text())
    app["metadata"]["namespace"] = op_namespace
    status, created = kube.request("POST", f"/apis/couple.dev/v1alpha1/namespaces/{op_namespace}/coupleapps", app)
    check(status == 201, f"applied examples/minimal.yaml as {op_namespace}/demo -> {status}")
    if status != 201:
        return None
    uid = created["metadata"]["uid"]
    check(wait_until(lambda: phase_of(kube, op_namespace, "demo") == "Provisioning", 120), f"the CoupleApp reaches status.phase Provisioning (phase: {phase_of(kube, op_namespace, 'demo')})")
    wait_until(lambda: children_complete(owned_children(kube, op_namespace, uid)), 30)
    owned = owned_children(kube, op_namespace, uid)
    for kind, (_, names) in CHILD_KINDS.items():
        want = f" (among them {', '.join(sorted(names))})" if names else ""
        check(bool(owned[kind]) and names <= owned[kind], f"the operator created {kind}s owned by the CoupleApp{want}: {', '.join(sorted(owned[kind])) or 'none'}")
    return uid


def test_apiserver_restart(kube: Kube, operator: Operator, namespace: str, account: str, op_namespace: str, state: Path) -> tuple[int, int]:
    """Restart kube-apiserver under the running operator; it must come back without a restart of its own.

    Returns the part of the operator's log (character offsets) from the restart until the operator
    had recovered: a freshly started API server denies requests it serves before its RBAC
    informers have synced (kubernetes/kubernetes#121635, #101422), so 403s there are expected.
    The operator's own recovery is timed from when the server authorises its ServiceAccount again.
    """
    restart_began = len(operator.log_text())
    script = REPO / "scripts" / "control-plane" / "cluster.sh"
    started = time.monotonic()
    result = subprocess.run([str(script), "restart-apiserver"], env={**os.environ, "COUPLE_CP_DIR": str(state)}, capture_output=True, text=True, timeout=180, check=False)
    took = time.monotonic() - started
    check(result.returncode == 0, f"cluster.sh restart-apiserver succeeded in {took:.0f}s{'' if result.returncode == 0 else ': ' + result.stderr.strip()[-2000:]}")
    check(operator.alive(), "the operator process is still running after the restart")
    # The restarted server denies requests until its RBAC informers have synced, which took up to
    # about 45 s here; the operator is only expected to recover once the server authorises it.
    token = kube.service_account_token(namespace, account)
    watched = ["/apis/couple.dev/v1alpha1/coupleapps?limit=1", "/api/v1/secrets?limit=1", "/apis/apps/v1/statefulsets?limit=1"]
    started = time.monotonic()
    authorised = wait_until(lambda: all(kube.request("GET", path, token=token)[0] == 200 for path in watched), 120, 0.25)
    check(authorised, f"the API server authorises the operator's ServiceAccount again ({time.monotonic() - started:.1f}s after the restart)")
    started = time.monotonic()
    live = wait_until(lambda: operator.get("/livez") == 200, 90)
    ready = wait_until(lambda: operator.get("/readyz") == 200, 90)
    check(live and ready, f"/livez and /readyz answer 200 again ({time.monotonic() - started:.1f}s after that; livez {operator.get('/livez')}, readyz {operator.get('/readyz')})")
    check(wait_until(lambda: lease_holder(kube, namespace) == operator.identity, 60), f"the Lease still (or again) names {operator.identity} (holder: {lease_holder(kube, namespace)})")

    # The watches resumed: a deleted child comes back.
    path = f"/api/v1/namespaces/{op_namespace}/services/demo-postgres"
    old_uid = uid_of(kube, path)
    status, _ = kube.request("DELETE", path)
    check(status == 200 and old_uid is not None, f"deleted the Service {op_namespace}/demo-postgres -> {status}")
    started = time.monotonic()
    recreated = wait_until(lambda: uid_of(kube, path) not in (None, old_uid), 60)
    check(recreated, f"the operator recreated it ({time.monotonic() - started:.1f}s): its watches resumed after the restart")
    # The restarted server's RBAC cache can still flap for a while ("clusterrole ... not found"
    # for roles that exist, seen up to about 45 s after a restart), denying a watch the operator
    # retries. The warm-up ends once no denial has come for 15 s and the operator is ready;
    # any 403 after that fails the check below. (A missing grant shows before the restart too.)
    started, quiet_since, seen = time.monotonic(), time.monotonic(), len(operator.denials())
    while time.monotonic() - started < 150:
        now = len(operator.denials())
        if now != seen:
            seen, quiet_since = now, time.monotonic()
        if time.monotonic() - quiet_since >= 15 and operator.get("/readyz") == 200:
            break
        time.sleep(1)
    settled = time.monotonic() - quiet_since >= 15
    check(settled, f"the operator settles after the restart: ready, and no denial for 15 s ({time.monotonic() - started:.0f}s)")
    recovered = len(operator.log_text())

    # The controller manager reconnects by itself: a new namespace gets its ServiceAccount token.
    probe = f"{op_namespace}-kcm"
    kube.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": probe}})
    try:
        token = wait_until(lambda: bool(kube.request("GET", f"/api/v1/namespaces/{probe}/serviceaccounts/default")[1].get("secrets")), 60)
        check(token, "the controller manager works after the restart (a new namespace's default ServiceAccount gets its token Secret)")
    finally:
        kube.request("DELETE", f"/api/v1/namespaces/{probe}")
    return restart_began, recovered


def test_operator_shutdown(kube: Kube, operator: Operator, namespace: str) -> None:
    code, took = operator.terminate(15)
    check(code == 0 and took <= 10, f"SIGTERM: the operator exits with status 0 within 10s (status {code}, {took:.1f}s)")
    status, lease = kube.request("GET", f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{LEASE}")
    spec = lease.get("spec", {})
    # kube-lease-manager's release() patches holderIdentity, acquireTime, renewTime and
    # leaseDurationSeconds to null: the Lease stays, without a holder.
    check(status == 200 and not spec.get("holderIdentity") and not spec.get("renewTime"), f"it released the Lease {LEASE} (holderIdentity and renewTime gone; spec {spec})")


def test_real_operator(kube: Kube, admin_kubeconfig: str, binary: str, namespace: str, account: str, op_namespace: str) -> None:
    section("4b. the real operator binary as the chart's ServiceAccount")
    before = len(failures)
    # The Lease that test_requests_as_service_account created with a made-up holder: start from none.
    kube.request("DELETE", f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{LEASE}")
    OPERATOR_WORK_DIR.mkdir(parents=True, exist_ok=True)
    sa_kubeconfig = OPERATOR_WORK_DIR / "operator.kubeconfig"
    service_account_kubeconfig(kube, admin_kubeconfig, namespace, account, sa_kubeconfig)
    operator = Operator(binary, sa_kubeconfig, namespace, f"chart-test-{secrets.token_hex(3)}", OPERATOR_WORK_DIR / "operator.log")
    print(f"       {binary}, log {operator.log_path.relative_to(REPO)}")
    operator.start()
    try:
        run_real_operator_checks(kube, operator, admin_kubeconfig, namespace, account, op_namespace)
    except Exception as err:  # noqa: BLE001 - report, clean up, let the rest of the chart test run
        traceback.print_exc()
        check(False, f"the real-operator test raised {type(err).__name__}: {err}")
    finally:
        if operator.alive():
            operator.terminate(10)
            operator.kill()
        if len(failures) > before:
            operator.print_log_tail()
        sa_kubeconfig.unlink(missing_ok=True)


def run_real_operator_checks(kube: Kube, operator: Operator, admin_kubeconfig: str, namespace: str, account: str, op_namespace: str) -> None:
    uid = test_operator_reconciles(kube, operator, namespace, op_namespace)
    state = control_plane_dir(admin_kubeconfig)
    window = (len(operator.log_text()),) * 2  # the restart, as log offsets
    if uid is not None:
        if state is None:
            print("       (API server restart skipped: the kubeconfig is not from scripts/control-plane/cluster.sh)")
        else:
            window = test_apiserver_restart(kube, operator, namespace, account, op_namespace, state)
    test_operator_shutdown(kube, operator, namespace)
    check(bool(operator.log_text()), "the operator wrote a log")
    before, after = operator.denials(0, window[0]), operator.denials(window[1])
    check(not before, f"the operator's log has no forbidden/403 before the API server restart {before[:3] or ''}".rstrip())
    check(not after, f"... nor after it had recovered from the restart {after[:3] or ''}".rstrip())
    during = operator.denials(window[0], window[1])
    if during:
        print(f"       (info: {len(during)} forbidden/403 while the restarted API server's RBAC caches filled, expected:")
        for line in during[:3]:
            print(f"        {line[:300]})")


def test_cluster(chart: helm.Chart, kubeconfig: str, operator_bin: str | None) -> None:
    section("4. install into a real API server")
    kube = Kube(kubeconfig)
    suffix = secrets.token_hex(3)
    namespace, release, app_namespace = f"chart-test-{suffix}", f"ct-{suffix}", f"chart-test-{suffix}-apps"
    op_namespace = f"chart-test-{suffix}-op"
    fullname = f"{release}-couple-operator"
    sa_user = f"system:serviceaccount:{namespace}:{fullname}"
    config = helm.Config(kubeconfig_path=kubeconfig, namespace=namespace)
    installed = False
    try:
        status, _ = kube.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": app_namespace}})
        check(status == 201, f"created the namespace {app_namespace} for the CoupleApp")
        crd_was_there = kube.exists(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD_NAME}")
        values = {"coupleApp": {"enabled": True, "namespace": app_namespace}}
        config.install(chart, release, values, namespace=namespace, create_namespace=True, timeout=120)
        installed = True
        status = config.status(release)
        check("deployed" in json.dumps(status).lower(), f"installed release {release} in {namespace} (status deployed)")
        listed = config.list()
        names = [r.get("name") for r in (listed.get("releases", listed) if isinstance(listed, dict) else listed)]
        check(release in names, "helm list shows the release")

        check(kube.exists(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD_NAME}"), f"CRD {CRD_NAME} exists" + (" (it was there before)" if crd_was_there else " (installed from crds/)"))
        check(kube.exists(f"/api/v1/namespaces/{namespace}/serviceaccounts/{fullname}"), "ServiceAccount exists")
        check(kube.exists(f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{fullname}"), "ClusterRole exists")
        check(kube.exists(f"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{fullname}"), "ClusterRoleBinding exists")
        check(kube.exists(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/roles/{fullname}-leader-election"), "leader-election Role exists")
        check(kube.exists(f"/api/v1/namespaces/{namespace}/services/{fullname}-metrics"), "metrics Service exists")
        status, dep = kube.request("GET", f"/apis/apps/v1/namespaces/{namespace}/deployments/{fullname}")
        check(status == 200, "Deployment exists (accepted by the API server's validation)")
        if status == 200:
            pod = dep["spec"]["template"]["spec"]
            check(pod["serviceAccountName"] == fullname and pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True, "the stored Deployment keeps the ServiceAccount and security context")
        status, app = kube.request("GET", f"/apis/couple.dev/v1alpha1/namespaces/{app_namespace}/coupleapps/demo")
        check(status == 200 and app.get("spec", {}).get("databases", {}).get("postgres") == {"managed": {}}, "the CoupleApp from values passed the CRD's schema and exists")

        # What the ServiceAccount may do, as the API server's RBAC authorizer answers.
        allowed = [
            ("list", "couple.dev", "coupleapps", "", "", ""),
            ("watch", "couple.dev", "coupleapps", "", "", ""),
            ("get", "couple.dev", "coupleapps", app_namespace, "demo", ""),
            ("patch", "couple.dev", "coupleapps", app_namespace, "demo", "status"),
            ("create", "", "secrets", app_namespace, "", ""),
            ("delete", "", "configmaps", app_namespace, "x", ""),
            ("patch", "apps", "deployments", "default", "x", ""),
            ("list", "apps", "statefulsets", "", "", ""),
            ("delete", "batch", "jobs", app_namespace, "x", ""),
            ("patch", "networking.k8s.io", "networkpolicies", app_namespace, "x", ""),
            ("watch", "policy", "poddisruptionbudgets", "", "", ""),
            ("create", "events.k8s.io", "events", app_namespace, "", ""),
            ("create", "coordination.k8s.io", "leases", namespace, "", ""),
            ("get", "coordination.k8s.io", "leases", namespace, LEASE, ""),
            ("patch", "coordination.k8s.io", "leases", namespace, LEASE, ""),
        ]
        denied = [
            ("patch", "couple.dev", "coupleapps", app_namespace, "demo", ""),
            ("delete", "couple.dev", "coupleapps", app_namespace, "demo", ""),
            ("list", "", "pods", "", "", ""),
            ("create", "", "pods", app_namespace, "", ""),
            ("update", "", "secrets", app_namespace, "x", ""),
            ("create", "rbac.authorization.k8s.io", "clusterroles", "", "", ""),
            ("patch", "coordination.k8s.io", "leases", namespace, "someone-else", ""),
            ("get", "coordination.k8s.io", "leases", app_namespace, LEASE, ""),
            ("create", "coordination.k8s.io", "leases", app_namespace, "", ""),
            ("delete", "apiextensions.k8s.io", "customresourcedefinitions", "", CRD_NAME, ""),
        ]
        for verb, group, resource, ns, name, sub in allowed:
            what = f"{verb} {group or 'core'}/{resource}{'/' + sub if sub else ''}{' ' + name if name else ''} in {ns or 'all namespaces'}"
            check(kube.can(sa_user, verb, group, resource, ns, name, sub), f"the ServiceAccount may {what}")
        for verb, group, resource, ns, name, sub in denied:
            what = f"{verb} {group or 'core'}/{resource}{'/' + sub if sub else ''}{' ' + name if name else ''} in {ns or 'all namespaces'}"
            check(not kube.can(sa_user, verb, group, resource, ns, name, sub), f"the ServiceAccount may not {what}")

        test_requests_as_service_account(kube, namespace, fullname, app_namespace)

        if operator_bin:
            test_real_operator(kube, kubeconfig, operator_bin, namespace, fullname, op_namespace)
        else:
            section("4b. the real operator: skipped (no --operator-bin; scripts/chart-test.sh builds and passes it)")
        section("4c. upgrade and uninstall")
        rel = config.upgrade(chart, release, {**values, "replicas": 2, "logFormat": "text"}, namespace=namespace, timeout=120)
        status, dep = kube.request("GET", f"/apis/apps/v1/namespaces/{namespace}/deployments/{fullname}")
        env = env_of(dep["spec"]["template"]["spec"]["containers"][0]) if status == 200 else {}
        check(status == 200 and dep["spec"]["replicas"] == 2 and env.get("COUPLE_LOG_FORMAT", {}).get("value") == "text", "upgrade to replicas=2, logFormat=text reaches the Deployment")

        # The README's CRD upgrade (`kubectl apply --server-side --force-conflicts -f crds/`).
        crd = yaml.safe_load((CHART / "crds" / "coupleapps.couple.dev.yaml").read_text())
        status, answer = kube.request("PATCH", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD_NAME}?fieldManager=kubectl&force=true", crd, content_type="application/apply-patch+yaml")
        check(status == 200, f"the CRD upgrade of the README (server-side apply, forced) is accepted{'' if status == 200 else ': ' + str(answer.get('message'))}")

        config.uninstall(release, timeout=120)
        installed = False
        check(kube.wait_gone(f"/apis/apps/v1/namespaces/{namespace}/deployments/{fullname}"), "uninstall removes the Deployment")
        check(not kube.exists(f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{fullname}"), "... the ClusterRole")
        check(not kube.exists(f"/api/v1/namespaces/{namespace}/serviceaccounts/{fullname}"), "... the ServiceAccount")
        check(kube.wait_gone(f"/apis/couple.dev/v1alpha1/namespaces/{app_namespace}/coupleapps/demo"), "... and the CoupleApp it created")
        check(kube.exists(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD_NAME}"), "the CRD stays after uninstall")
    except Exception as err:  # noqa: BLE001 - report and clean up
        traceback.print_exc()
        check(False, f"cluster test raised {type(err).__name__}: {err}")
    finally:
        if installed:
            try:
                config.uninstall(release, timeout=120, ignore_not_found=True)
            except Exception as err:  # noqa: BLE001
                print(f"  (cleanup: uninstall failed: {err})")
        for ns in (namespace, app_namespace, op_namespace):
            kube.request("DELETE", f"/api/v1/namespaces/{ns}")
        config.close()


def main() -> int:
    parser = argparse.ArgumentParser(description="Checks of charts/couple-operator (run through scripts/chart-test.sh).")
    parser.add_argument("--operator-bin", help="the couple-operator binary to run under the chart's ServiceAccount (cluster test only)")
    args = parser.parse_args()
    print(f"helm SDK {helm.helm_sdk_version()}, chart {CHART.relative_to(REPO)}")
    test_lint()
    chart = helm.Chart.load(str(CHART))
    try:
        test_schema(chart)
        test_render_defaults(chart)
        test_render_variants(chart)
        kubeconfig = os.environ.get("COUPLE_TEST_KUBECONFIG")
        if kubeconfig:
            test_cluster(chart, kubeconfig, args.operator_bin)
        else:
            section("4. install: skipped (set COUPLE_TEST_KUBECONFIG, e.g. from scripts/control-plane/cluster.sh start)")
    finally:
        chart.close()
    print()
    if failures:
        print(f"{len(failures)} check(s) FAILED:")
        for f in failures:
            print(f"  - {f}")
        return 1
    print("all chart checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
