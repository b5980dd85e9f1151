#!/usr/bin/env bash
# Prove the test node (scripts/node/node.sh) works, and that `down` leaves the machine as found.
#
#   scripts/node/check.sh          snapshot, up, the proof, down, snapshot, compare
#   scripts/node/check.sh --keep   snapshot-free: up (if needed) and the proof; the node stays up
#
# The proof, in namespace node-check:
#   1. the node is Ready;
#   2. an image made here (Debian's busybox-static, unpacked with dpkg-deb, written by image.py
#      and imported with ctr; never pulled) runs: a web server pod behind a Service and a client
#      pod;
#   3. from the client pod (kubectl exec), the Service's name resolves through the node's DNS
#      and the web server answers through the Service's ClusterIP (kube-proxy);
#   4. a headless Service's name resolves to the pod's address, and kubernetes.default to the
#      API server's ClusterIP, which answers a TCP connection from the pod;
#   5. a PersistentVolumeClaim binds to a hostPath volume: a pod writes to it, a second pod on
#      the same claim reads the data back.
# Then (without --keep) `node.sh down`, the control plane stopped if this script started it,
# and machine-state.sh compares the machine with its state before `up`.
#
# Needs root. Prints each stage's time. The stage functions run where `set -e` does not apply
# (stage's CMD ||): each step that can fail says `|| return 1`.
set -euo pipefail

LOG_NAME=node-check
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "${here}/../.." && pwd)
cp_dir=${COUPLE_CP_DIR:-${repo}/.tmp/control-plane}
work=${repo}/.tmp/node-check
keep=0
[[ ${1:-} == --keep ]] && keep=1
ns=node-check
image=couple.local/busybox:check

[[ ${EUID} -eq 0 ]] || die "needs root (the node does)"
rm -rf "${work}"
mkdir -p "${work}"

kc() { "$("${repo}/scripts/control-plane/build.sh" --bin-dir)/kubectl" --kubeconfig "${cp_dir}/kubeconfig" "$@"; }

# ----------------------------------------------------------------- stages

cp_was_node=0
snapshot_before() {
    if "${repo}/scripts/control-plane/cluster.sh" status >/dev/null 2>&1 && [[ -f ${cp_dir}/node-ip ]]; then
        cp_was_node=1
    fi
    "${here}/machine-state.sh" snapshot "${work}/before"
}

# --keep reuses a node that is up.
node_up() {
    if ((keep)) && "${here}/node.sh" status >/dev/null 2>&1; then
        log "the node is up already"
        return 0
    fi
    "${here}/node.sh" up >/dev/null
}

node_ready() {
    kc get node couple-node -o wide || return 1
    [[ $(kc get node couple-node -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}') == True ]]
}

# The busybox image: Debian's busybox-static unpacked (not installed), one static binary and
# links for the applets the proof uses.
busybox_image() {
    local deb_dir=${work}/busybox-deb a links=()
    mkdir -p "${deb_dir}" || return 1
    (cd "${deb_dir}" && apt-get download busybox-static >/dev/null 2>&1) || {
        as_root apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null 2>&1 || true
        (cd "${deb_dir}" && apt-get download busybox-static >/dev/null)
    } || return 1
    dpkg-deb -x "${deb_dir}"/busybox-static_*.deb "${deb_dir}/root" || return 1
    for a in sh cat echo httpd ls mkdir nc nslookup printf sleep; do
        links+=(--link "/bin/${a}:busybox")
    done
    "${here}/image.py" "${work}/busybox.tar" "${image}" --cmd /bin/sh --dir /tmp \
        --file "${deb_dir}/root/bin/busybox:/bin/busybox" "${links[@]}" || return 1
    ctr --address "${repo}/.tmp/node/containerd/containerd.sock" -n k8s.io images import \
        "${work}/busybox.tar"
}

apply_workloads() {
    kc delete namespace "${ns}" --ignore-not-found --wait=true >/dev/null || return 1
    kc create namespace "${ns}" || return 1
    # No ServiceAccount token needed; wait for the default one all the same (admission).
    local i
    for ((i = 0; i < 60; i++)); do
        kc -n "${ns}" get serviceaccount default >/dev/null 2>&1 && break
        sleep 0.5
    done
    kc -n "${ns}" apply -f - <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
  - name: web
    image: ${image}
    imagePullPolicy: Never
    command: [sh, -c, 'mkdir -p /tmp/www && echo hello-from-web >/tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www']
    ports: [{containerPort: 8080}]
    readinessProbe:
      tcpSocket: {port: 8080}
      periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata:
  name: web-pods
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{port: 8080}]
---
apiVersion: v1
kind: Pod
metadata:
  name: client
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: client
    image: ${image}
    imagePullPolicy: Never
    command: [sleep, '3600']
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Mi}}
---
apiVersion: v1
kind: Pod
metadata:
  name: writer
spec:
  restartPolicy: Never
  containers:
  - name: writer
    image: ${image}
    imagePullPolicy: Never
    command: [sh, -c, 'echo kept-on-the-volume >/data/file']
    volumeMounts: [{name: data, mountPath: /data}]
  volumes:
  - name: data
    persistentVolumeClaim: {claimName: data}
EOF
}

pods_run() {
    kc -n "${ns}" wait --for=condition=Ready pod/web pod/client --timeout=90s || return 1
    kc -n "${ns}" get pods -o wide
}

# Busybox's own resolver (nslookup) asks the node's DNS; its wget would go through the static
# glibc's NSS, which crashes in an image without NSS modules, so HTTP goes over nc to the address
# the name resolved to.
service_dns() {
    local out ip want
    want=$(kc -n "${ns}" get service web -o 'jsonpath={.spec.clusterIP}') || return 1
    out=$(kc -n "${ns}" exec client -- nslookup -type=a "web.${ns}.svc.cluster.local") \
        || { printf '%s\n' "${out}"; return 1; }
    printf '%s\n' "${out}"
    ip=$(sed -n '/^Name:/,$s/^Address: *//p' <<<"${out}" | head -n1)
    [[ ${ip} == "${want}" ]] || { log "web.${ns} resolved to '${ip}', not the ClusterIP ${want}"; return 1; }
    # Through the ClusterIP, i.e. kube-proxy's rules, to the web pod.
    out=$(kc -n "${ns}" exec client -- sh -c "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 ${ip} 80") || return 1
    printf 'http://%s/ ->\n%s\n' "${ip}" "${out}"
    [[ $(tail -n1 <<<"${out}") == hello-from-web ]]
}

# resolve NAME: the first address nslookup (in the client pod) gives for NAME.
resolve() {
    local out
    out=$(kc -n "${ns}" exec client -- nslookup -type=a "$1") || { printf '%s\n' "${out}" >&2; return 1; }
    sed -n '/^Name:/,$s/^Address: *//p' <<<"${out}" | head -n1
}

# A headless Service's name gives the pod's address (StatefulSets rely on it), and the API
# server is reachable from a pod through kubernetes.default (the operator pod needs it).
headless_and_api() {
    local ip want
    want=$(kc -n "${ns}" get pod web -o 'jsonpath={.status.podIP}') || return 1
    ip=$(resolve "web-pods.${ns}.svc.cluster.local") || return 1
    printf 'web-pods.%s -> %s (pod %s)\n' "${ns}" "${ip}" "${want}"
    [[ ${ip} == "${want}" ]] || return 1
    ip=$(resolve kubernetes.default.svc.cluster.local) || return 1
    printf 'kubernetes.default -> %s\n' "${ip}"
    [[ ${ip} == "$(kc -n default get service kubernetes -o 'jsonpath={.spec.clusterIP}')" ]] || return 1
    # Plain HTTP to the HTTPS port: Go's TLS server answers 400 "... to an HTTPS server".
    local out
    out=$(kc -n "${ns}" exec client -- sh -c "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 ${ip} 443") || true
    printf 'https://%s (plain HTTP) -> %s\n' "${ip}" "$(tail -n1 <<<"${out}")"
    [[ ${out} == *"HTTPS server"* ]] || { log "the API server did not answer at ${ip}:443 from the pod"; return 1; }
}

volume_binds() {
    local i phase
    for ((i = 0; i < 120; i++)); do
        phase=$(kc -n "${ns}" get pod writer -o 'jsonpath={.status.phase}')
        [[ ${phase} == Succeeded || ${phase} == Failed ]] && break
        sleep 0.5
    done
    [[ ${phase} == Succeeded ]] || { log "writer pod: ${phase}"; kc -n "${ns}" describe pod writer; return 1; }
    kc -n "${ns}" get pvc data || return 1
    [[ $(kc -n "${ns}" get pvc data -o 'jsonpath={.status.phase}') == Bound ]] || return 1
    kc get pv "$(kc -n "${ns}" get pvc data -o 'jsonpath={.spec.volumeName}')" -o 'jsonpath={.spec.hostPath.path}{"\n"}' || return 1
    # A second pod on the same claim reads what the first wrote.
    kc -n "${ns}" run reader --image="${image}" --image-pull-policy=Never --restart=Never \
        --overrides='{"spec":{"volumes":[{"name":"data","persistentVolumeClaim":{"claimName":"data"}}],"containers":[{"name":"reader","image":"'"${image}"'","imagePullPolicy":"Never","command":["cat","/data/file"],"volumeMounts":[{"name":"data","mountPath":"/data"}]}]}}' >/dev/null || return 1
    for ((i = 0; i < 120; i++)); do
        phase=$(kc -n "${ns}" get pod reader -o 'jsonpath={.status.phase}')
        [[ ${phase} == Succeeded || ${phase} == Failed ]] && break
        sleep 0.5
    done
    local out
    out=$(kc -n "${ns}" logs reader) || return 1
    printf 'reader: %s\n' "${out}"
    [[ ${out} == kept-on-the-volume ]]
}

node_down() {
    "${here}/node.sh" down || return 1
    if ((!cp_was_node)); then
        "${repo}/scripts/control-plane/cluster.sh" stop
    fi
}

compare() {
    "${here}/machine-state.sh" snapshot "${work}/after" || return 1
    "${here}/machine-state.sh" compare "${work}/before" "${work}/after"
}

# A failed proof still takes the node down (unless --keep), so the machine is left clean.
on_exit() {
    local rc=$?
    if ((rc != 0 && !keep)); then
        log "failed; taking the node down"
        "${here}/node.sh" down >&2 || true
        ((cp_was_node)) || "${repo}/scripts/control-plane/cluster.sh" stop >&2 || true
    fi
}

if ((!keep)); then
    trap on_exit EXIT
    stage "snapshot before" snapshot_before
fi
stage "node up" node_up
stage "node Ready" node_ready
stage "busybox image" busybox_image
stage "workloads" apply_workloads
stage "pods running" pods_run
stage "Service DNS and ClusterIP" service_dns
stage "headless Service and API server from a pod" headless_and_api
stage "hostPath volume" volume_binds
if ((!keep)); then
    stage "node down" node_down
    trap - EXIT
    stage "machine as found" compare
fi
stage_summary
