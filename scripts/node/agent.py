#!/usr/bin/env python3
"""The test node's two small controllers, in one polling loop (scripts/node/node.sh starts it).

- DNS for Service names: the node has no CoreDNS; dnsmasq answers from a hosts file that this
  loop regenerates from the Services (ClusterIP names) and Endpoints (pod names of headless
  Services, as StatefulSets use), sending dnsmasq SIGHUP when the file changed.
- hostPath volumes for claims: the node has no dynamic provisioner; a pending claim gets a
  hostPath PersistentVolume under the node's volume directory, bound to it ahead (claimRef),
  and a Released volume this loop made is deleted with its directory.

    agent.py --server URL --token-file FILE --hosts FILE --dnsmasq-pid-file FILE
             --volumes DIR [--interval SECS]

Plain HTTP polling with the admin token (the API server's certificate is self-signed): a second
at most behind the cluster, no dependency beyond Python's standard library.
"""

import argparse
import json
import os
import shutil
import signal
import ssl
import sys
import time
import urllib.error
import urllib.request

DOMAIN = "cluster.local"
# Marks the PersistentVolumes this loop made, so it deletes no other.
LABEL = "couple.dev/test-node-volume"


class Api:
    def __init__(self, server, token):
        self.server = server.rstrip("/")
        self.token = token
        self.ctx = ssl.create_default_context()
        self.ctx.check_hostname = False
        self.ctx.verify_mode = ssl.CERT_NONE

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Authorization", "Bearer " + self.token)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, context=self.ctx, timeout=10) as resp:
            return json.load(resp)

    def items(self, path):
        return self.call("GET", path)["items"]


def hosts_lines(services, endpoints):
    """name.ns.svc.cluster.local for each ClusterIP; pod.name.ns.svc... for headless endpoints."""
    lines = set()
    for svc in services:
        meta, spec = svc["metadata"], svc["spec"]
        ip = spec.get("clusterIP")
        if ip and ip != "None":
            lines.add(f"{ip} {meta['name']}.{meta['namespace']}.svc.{DOMAIN}")
    headless = {
        (s["metadata"]["namespace"], s["metadata"]["name"])
        for s in services
        if s["spec"].get("clusterIP") == "None"
    }
    for ep in endpoints:
        meta = ep["metadata"]
        key = (meta["namespace"], meta["name"])
        if key not in headless:
            continue
        base = f"{meta['name']}.{meta['namespace']}.svc.{DOMAIN}"
        for subset in ep.get("subsets") or []:
            for addr in subset.get("addresses") or []:
                lines.add(f"{addr['ip']} {base}")
                if addr.get("hostname"):
                    lines.add(f"{addr['ip']} {addr['hostname']}.{base}")
    return "".join(line + "\n" for line in sorted(lines))


def sync_dns(api, hosts, pid_file):
    text = hosts_lines(api.items("/api/v1/services"), api.items("/api/v1/endpoints"))
    try:
        with open(hosts) as f:
            if f.read() == text:
                return
    except FileNotFoundError:
        pass
    with open(hosts + ".tmp", "w") as f:
        f.write(text)
    os.replace(hosts + ".tmp", hosts)
    try:
        with open(pid_file) as f:
            os.kill(int(f.read().strip()), signal.SIGHUP)
    except (OSError, ValueError) as err:
        print(f"agent: could not signal dnsmasq: {err}", file=sys.stderr, flush=True)


def sync_volumes(api, volumes):
    pvs = api.items("/api/v1/persistentvolumes")
    for pvc in api.items("/api/v1/persistentvolumeclaims"):
        meta, spec = pvc["metadata"], pvc["spec"]
        if pvc.get("status", {}).get("phase") != "Pending" or spec.get("volumeName"):
            continue
        name = "pv-" + meta["uid"]
        if any(pv["metadata"]["name"] == name for pv in pvs):
            continue
        path = os.path.join(volumes, name)
        os.makedirs(path, exist_ok=True)
        # Pods run as any uid (PostgreSQL as 999, distroless as 65532).
        os.chmod(path, 0o1777)
        body = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": name, "labels": {LABEL: "true"}},
            "spec": {
                "capacity": {"storage": spec["resources"]["requests"]["storage"]},
                "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": spec.get("storageClassName") or "",
                "volumeMode": spec.get("volumeMode") or "Filesystem",
                "hostPath": {"path": path, "type": "DirectoryOrCreate"},
                "claimRef": {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "namespace": meta["namespace"],
                    "name": meta["name"],
                    "uid": meta["uid"],
                },
            },
        }
        api.call("POST", "/api/v1/persistentvolumes", body)
        print(f"agent: {name} for claim {meta['namespace']}/{meta['name']}", flush=True)
    for pv in pvs:
        meta = pv["metadata"]
        if (meta.get("labels") or {}).get(LABEL) != "true":
            continue
        if pv.get("status", {}).get("phase") not in ("Released", "Failed"):
            continue
        try:
            api.call("DELETE", "/api/v1/persistentvolumes/" + meta["name"])
        except urllib.error.HTTPError as err:
            if err.code != 404:
                raise
        shutil.rmtree(os.path.join(volumes, meta["name"]), ignore_errors=True)
        print(f"agent: deleted released {meta['name']}", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--token-file", required=True)
    parser.add_argument("--hosts", required=True)
    parser.add_argument("--dnsmasq-pid-file", required=True)
    parser.add_argument("--volumes", required=True)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    with open(args.token_file) as f:
        token = f.readline().split(",")[0].strip()
    api = Api(args.server, token)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        try:
            sync_dns(api, args.hosts, args.dnsmasq_pid_file)
            sync_volumes(api, args.volumes)
        except (OSError, ValueError, KeyError, urllib.error.URLError) as err:
            print(f"agent: {err}", file=sys.stderr, flush=True)
        time.sleep(args.interval)


if __name__ == "__main__":
    main()
