#!/usr/bin/env bash
# A throwaway Kubernetes control plane on loopback: etcd (Debian's etcd-server),
# kube-apiserver and kube-controller-manager 1.20.2 (built by build.sh).
#
#   scripts/control-plane/cluster.sh start    fresh control plane on free 127.0.0.1
#                                             ports; prints the path of the env file
#   scripts/control-plane/cluster.sh start --node
#                                             the same, ready for a real node
#                                             (scripts/node/node.sh; needs root): see below
#   scripts/control-plane/cluster.sh stop     stop all three, delete all state
#   scripts/control-plane/cluster.sh status   print what runs (exit 0 only if all
#                                             three run and the API server is ready)
#   scripts/control-plane/cluster.sh env      print the env file (for eval)
#   scripts/control-plane/cluster.sh restart-apiserver
#                                             stop only kube-apiserver and start it
#                                             again (same flags, port, etcd data);
#                                             returns once /readyz answers
#
# After `start`:
#
#   . "$COUPLE_CP_DIR/env"    # KUBECONFIG, COUPLE_TEST_KUBECONFIG
#
# The kubeconfig authenticates as `admin` (group system:masters) with a random
# bearer token and skips TLS verification (the serving certificate is
# self-signed; its CA is also in $COUPLE_CP_DIR/certs/apiserver.crt and in
# every ServiceAccount token Secret as ca.crt).
#
# `start` always begins from a clean slate: a control plane from an earlier
# `start` in the same directory is stopped and its data deleted first. If the
# binaries are not built yet, `start` runs build.sh first (about 5 minutes,
# once per machine) unless COUPLE_CP_NO_BUILD=1.
#
# Processes are stopped by the pids in their own pid files (checked against
# /proc so that a stale or recycled pid is never signalled), never by name.
#
# Node mode (`start --node`, what scripts/node/node.sh starts): the API server
# listens on ${COUPLE_CP_NODE_IP:-10.211.0.1}, a /32 added to `lo` (removed
# again by `stop`) so that pods reach it; authorization Node,RBAC with the
# NodeRestriction admission plugin and privileged containers allowed; tokens
# and kubeconfigs for the node (system:node:couple-node), kube-proxy and
# kube-scheduler next to the admin's (node.kubeconfig, kube-proxy.kubeconfig,
# kube-scheduler.kubeconfig; the admin token stays on the first line of
# tokens.csv); the controller manager runs the node lifecycle controller. etcd
# and the controller manager stay on 127.0.0.1.
#
# Environment:
#   COUPLE_CP_DIR       state directory (default <repo>/.tmp/control-plane):
#                       env, kubeconfig, tokens, keys, etcd data, *.log, *.pid, *.port
#   COUPLE_CP_TIMEOUT   seconds to wait for each component (default 60)
#   COUPLE_CP_NO_BUILD  1 = fail instead of building missing binaries
#   COUPLE_K8S_CACHE    where build.sh keeps the binaries (see build.sh)
set -euo pipefail

LOG_NAME=control-plane
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "${here}/../.." && pwd)
state=${COUPLE_CP_DIR:-${repo}/.tmp/control-plane}
[[ ${state} == /* ]] || state="${PWD}/${state}"
timeout_s=${COUPLE_CP_TIMEOUT:-60}

# Marks a directory as created by this script: stop/start refuse to delete a
# directory without it, so a mistyped COUPLE_CP_DIR cannot wipe other files.
marker=.couple-control-plane
env_file=${state}/env
kubeconfig=${state}/kubeconfig
components=(kube-controller-manager kube-apiserver etcd) # stop order
# Node mode: the address, and the node's name its kubelet registers under.
node_ip=${COUPLE_CP_NODE_IP:-10.211.0.1}
node_name=couple-node

# ----------------------------------------------------------------- helpers

# Print the pid of a running component, or fail.
running_pid() { daemon_pid "${state}" "$1"; }

stop_component() {
    local name=$1 pid
    pid=$(running_pid "${name}") || return 0
    stop_pid "${name}" "${pid}" "${name}" 15
}

stop_all() {
    local c
    for c in "${components[@]}"; do
        stop_component "${c}"
    done
    # Node mode: the address `start --node` added to lo (only if it added it).
    if [[ -f ${state}/node-ip-added ]]; then
        c=$(cat "${state}/node-ip-added")
        if ip -o addr show dev lo | grep -qF " ${c}/32 "; then
            as_root ip addr del "${c}/32" dev lo
            log "removed ${c}/32 from lo"
        fi
        rm -f "${state}/node-ip-added"
    fi
}

# The address the API server listens on: 127.0.0.1, or the node address in node mode.
api_host() {
    cat "${state}/node-ip" 2>/dev/null || printf '127.0.0.1\n'
}

# The admin token: the first line of tokens.csv (node mode adds the node's tokens after it).
admin_token() {
    head -n1 "${state}/tokens.csv" | cut -d, -f1
}

# wait_for NAME LOG CHECK...: poll CHECK (a command) every 0.25s until it
# succeeds; fail with the log tail when NAME dies or the timeout passes.
wait_for() {
    local name=$1 logfile=$2 i
    shift 2
    for ((i = 0; i < timeout_s * 4; i++)); do
        if "$@" >/dev/null 2>&1; then
            return 0
        fi
        running_pid "${name}" >/dev/null \
            || fail_with_log "${name} exited during startup" "${logfile}"
        sleep 0.25
    done
    fail_with_log "${name} not ready after ${timeout_s}s" "${logfile}"
}

# launch NAME LOG CMD...: start CMD in the background (daemon_start), its pid in NAME.pid.
launch() { daemon_start "${state}" "$@"; }

curl_api() {
    local path=$1
    curl -sSfk --max-time 5 -H "Authorization: Bearer ${token}" \
        "https://${api_host}:${api_port}${path}"
}

# The default ServiceAccount of `default` has its token Secret, i.e. the
# controller manager's token controller works and Pods can be admitted.
default_sa_has_token() {
    curl_api /api/v1/namespaces/default/serviceaccounts/default | grep -q '"secrets"'
}

# TTLAfterFinished (alpha in 1.20, on by default from 1.21): without it the
# API server drops a Job's ttlSecondsAfterFinished and nothing cleans
# finished Jobs up, unlike any current cluster.
feature_gates=TTLAfterFinished=true

# start_apiserver BIN_DIR ETCD_URL: launch kube-apiserver on ${api_port} and
# wait until /readyz answers. `start` and `restart-apiserver` share it, so a
# restarted API server runs with exactly the flags of the first one.
# --cert-dir: it writes a self-signed serving cert (and its CA) there once and
# reuses it on a restart. Admission: the 1.20 defaults (incl. ServiceAccount,
# which waits for the token controller before admitting Pods); none of them
# needs a node.
start_apiserver() {
    local bin_dir=$1 etcd_url=$2 mode=(--authorization-mode=RBAC)
    if [[ -f ${state}/node-ip ]]; then
        # Node mode (see the header). --kubelet-preferred-address-types: exec and
        # logs go to the node's InternalIP, not its name through the machine's DNS.
        mode=(
            --advertise-address="${api_host}"
            --authorization-mode=Node,RBAC
            --enable-admission-plugins=NodeRestriction
            --allow-privileged=true
            --kubelet-preferred-address-types=InternalIP,Hostname
        )
    fi
    mkdir -p "${state}/certs"
    launch kube-apiserver "${state}/kube-apiserver.log" "${bin_dir}/kube-apiserver" \
        --etcd-servers="${etcd_url}" \
        --bind-address="${api_host}" \
        --secure-port="${api_port}" \
        --cert-dir="${state}/certs" \
        --token-auth-file="${state}/tokens.csv" \
        "${mode[@]}" \
        --service-account-issuer=https://kubernetes.default.svc \
        --service-account-key-file="${state}/sa.pub" \
        --service-account-signing-key-file="${state}/sa.key" \
        --service-cluster-ip-range=10.96.0.0/16 \
        --feature-gates="${feature_gates}"
    wait_for kube-apiserver "${state}/kube-apiserver.log" curl_api /readyz
}

# ---------------------------------------------------------------- commands

ensure_binaries() {
    local missing=0 c
    "${here}/build.sh" --check || missing=1
    for c in etcd openssl curl setsid; do
        command -v "${c}" >/dev/null 2>&1 || missing=1
    done
    ((missing)) || return 0
    [[ ${COUPLE_CP_NO_BUILD:-0} != 1 ]] \
        || die "kube-apiserver/kube-controller-manager or etcd/openssl/curl missing; run scripts/control-plane/build.sh (COUPLE_CP_NO_BUILD=1)"
    log "binaries or packages missing; running scripts/control-plane/build.sh"
    "${here}/build.sh" >&2
}

cmd_start() {
    local node=0
    case ${1:-} in
        "") ;;
        --node) node=1 ;;
        *) die "usage: $0 start [--node]" ;;
    esac
    ensure_binaries
    local bin_dir
    bin_dir=$("${here}/build.sh" --bin-dir)

    # A clean slate: what an earlier start left in ${state} is stopped and deleted.
    state_fresh "${state}" "${marker}" stop_all
    # Startup time, not counting a first build or stopping the previous run.
    local t0=${SECONDS}
    # Holds an admin token and private keys: owner only.
    chmod 0700 "${state}"

    # On failure stop whatever was started; keep the state dir (logs) for
    # inspection: the next start or stop deletes it.
    trap 'rc=$?; if ((rc != 0)); then stop_all || true; log "logs kept in ${state}"; fi' EXIT

    local ports etcd_port peer_port kcm_port
    ports=$(pick_ports 4)
    read -r etcd_port peer_port api_port kcm_port <<<"${ports}"
    printf '%s\n' "${etcd_port}" >"${state}/etcd.port"
    printf '%s\n' "${api_port}" >"${state}/kube-apiserver.port"
    printf '%s\n' "${kcm_port}" >"${state}/kube-controller-manager.port"

    # Credentials: service-account signing key pair and an admin token.
    openssl genrsa -out "${state}/sa.key" 2048 >/dev/null 2>&1 || die "openssl genrsa failed"
    openssl rsa -in "${state}/sa.key" -pubout -out "${state}/sa.pub" >/dev/null 2>&1 \
        || die "openssl rsa -pubout failed"
    token=$(openssl rand -hex 32)
    printf '%s,admin,admin,system:masters\n' "${token}" >"${state}/tokens.csv"
    chmod 0600 "${state}/sa.key" "${state}/tokens.csv"
    local controllers='*,-nodeipam,-nodelifecycle,-cloud-node-lifecycle'
    if ((node)); then
        node_mode_setup
        controllers='*,-nodeipam,-cloud-node-lifecycle'
    fi
    api_host=$(api_host)

    # --- etcd
    local etcd_url=http://127.0.0.1:${etcd_port} peer_url=http://127.0.0.1:${peer_port}
    launch etcd "${state}/etcd.log" etcd \
        --name couple-cp \
        --data-dir "${state}/etcd" \
        --listen-client-urls "${etcd_url}" \
        --advertise-client-urls "${etcd_url}" \
        --listen-peer-urls "${peer_url}" \
        --initial-advertise-peer-urls "${peer_url}" \
        --initial-cluster "couple-cp=${peer_url}" \
        --initial-cluster-state new \
        --logger zap --log-outputs stderr
    wait_for etcd "${state}/etcd.log" curl -sSf --max-time 2 "${etcd_url}/health"
    log "etcd running (pid $(running_pid etcd), ${etcd_url})"

    # --- kube-apiserver
    start_apiserver "${bin_dir}" "${etcd_url}"
    log "kube-apiserver ready (pid $(running_pid kube-apiserver), https://${api_host}:${api_port}, $((SECONDS - t0))s)"

    write_kubeconfig "${kubeconfig}" "${token}"
    if ((node)); then
        local who
        for who in node kube-proxy kube-scheduler; do
            write_kubeconfig "${state}/${who}.kubeconfig" "$(cat "${state}/${who}.token")" "${who}"
        done
    fi
    # The controller manager reads its own copy, so edits to the user's
    # kubeconfig (kubectl config set-context ...) cannot affect it.
    write_kubeconfig "${state}/controller-manager.kubeconfig" "${token}"

    # --- kube-controller-manager
    # No node controllers (no nodes, no pod CIDRs). --use-service-account-credentials:
    # each controller runs under its own ServiceAccount with the bootstrap RBAC
    # roles, as in a real cluster. --root-ca-file becomes ca.crt in token Secrets
    # and in the kube-root-ca.crt ConfigMaps. No --authentication-kubeconfig /
    # --authorization-kubeconfig: they need the extension-apiserver-authentication
    # ConfigMap, which the API server only writes when it has a client CA, and
    # the controller manager then logs errors forever; /healthz needs neither.
    # --kube-api-qps/burst: the default 20/30 per controller makes the StatefulSet and ReplicaSet
    # controllers queue pod creations for minutes once a benchmark has a few hundred workloads;
    # this control plane serves tests and benchmarks, not a shared cluster.
    mkdir -p "${state}/controller-manager-certs"
    launch kube-controller-manager "${state}/kube-controller-manager.log" \
        "${bin_dir}/kube-controller-manager" \
        --kubeconfig="${state}/controller-manager.kubeconfig" \
        --controllers="${controllers}" \
        --leader-elect=false \
        --port=0 \
        --bind-address=127.0.0.1 \
        --secure-port="${kcm_port}" \
        --cert-dir="${state}/controller-manager-certs" \
        --service-account-private-key-file="${state}/sa.key" \
        --use-service-account-credentials=true \
        --kube-api-qps=200 \
        --kube-api-burst=400 \
        --root-ca-file="${state}/certs/apiserver.crt" \
        --feature-gates="${feature_gates}"
    wait_for kube-controller-manager "${state}/kube-controller-manager.log" \
        curl -sSfk --max-time 2 "https://127.0.0.1:${kcm_port}/healthz"
    wait_for kube-controller-manager "${state}/kube-controller-manager.log" default_sa_has_token
    log "kube-controller-manager running (pid $(running_pid kube-controller-manager), healthz on 127.0.0.1:${kcm_port})"

    # Written last and atomically: its presence means "ready".
    cat >"${env_file}.tmp" <<EOF
# Written by scripts/control-plane/cluster.sh start; source this file.
export KUBECONFIG=${kubeconfig}
export COUPLE_TEST_KUBECONFIG=${kubeconfig}
EOF
    mv "${env_file}.tmp" "${env_file}"
    trap - EXIT
    log "control plane ready in $((SECONDS - t0))s; . ${env_file}"
    printf '%s\n' "${env_file}"
}

# node_mode_setup: the node address on lo (recorded in node-ip-added when this
# script added it, for stop_all) and the node's, kube-proxy's and kube-scheduler's
# tokens after the admin's line.
node_mode_setup() {
    [[ ${node_ip} =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "COUPLE_CP_NODE_IP=${node_ip} is not an IPv4 address"
    if ! ip -o addr show | grep -qF " ${node_ip}/"; then
        as_root ip addr add "${node_ip}/32" dev lo
        printf '%s\n' "${node_ip}" >"${state}/node-ip-added"
        log "added ${node_ip}/32 to lo"
    fi
    printf '%s\n' "${node_ip}" >"${state}/node-ip"
    local who user group
    for who in node kube-proxy kube-scheduler; do
        case ${who} in
            node) user=system:node:${node_name} group=system:nodes ;;
            kube-proxy) user=system:kube-proxy group=system:node-proxier ;;
            kube-scheduler) user=system:kube-scheduler group=system:kube-scheduler ;;
        esac
        (umask 077 && openssl rand -hex 32 >"${state}/${who}.token")
        printf '%s,%s,%s,%s\n' "$(cat "${state}/${who}.token")" "${user}" "${user}" "${group}" >>"${state}/tokens.csv"
    done
}

# write_kubeconfig FILE TOKEN [USER]
write_kubeconfig() {
    local file=$1 tok=$2 user=${3:-admin}
    (
        umask 077
        cat >"${file}.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: couple-local
  cluster:
    server: https://${api_host}:${api_port}
    insecure-skip-tls-verify: true
users:
- name: ${user}
  user:
    token: ${tok}
contexts:
- name: couple-local
  context:
    cluster: couple-local
    user: ${user}
    namespace: default
current-context: couple-local
EOF
    )
    mv "${file}.tmp" "${file}"
}

cmd_stop() {
    state_stop "${state}" "${marker}" stop_all
}

# Stop only the API server (by its pid file) and start it again with the same
# flags on the same port, against the same etcd: a test of how clients ride
# out an API server restart. etcd and the controller manager keep running.
cmd_restart_apiserver() {
    [[ -f ${state}/${marker} && -f ${env_file} ]] || die "not started (no ${env_file}); run: $0 start"
    running_pid etcd >/dev/null || die "etcd is not running (${state}); run: $0 start"
    local bin_dir etcd_port t0=${SECONDS}
    bin_dir=$("${here}/build.sh" --bin-dir)
    api_port=$(cat "${state}/kube-apiserver.port")
    etcd_port=$(cat "${state}/etcd.port")
    token=$(admin_token)
    api_host=$(api_host)
    stop_component kube-apiserver
    # Keep the first run's log next to the new one.
    if [[ -f ${state}/kube-apiserver.log ]]; then
        mv -f "${state}/kube-apiserver.log" "${state}/kube-apiserver.previous.log"
    fi
    start_apiserver "${bin_dir}" "http://127.0.0.1:${etcd_port}"
    log "kube-apiserver restarted (pid $(running_pid kube-apiserver), https://${api_host}:${api_port}, ready after $((SECONDS - t0))s)"
}

cmd_status() {
    local ok=0 c pid port host
    for c in etcd kube-apiserver kube-controller-manager; do
        port=$(cat "${state}/${c}.port" 2>/dev/null || echo '?')
        if pid=$(running_pid "${c}"); then
            host=127.0.0.1
            [[ ${c} != kube-apiserver ]] || host=$(api_host)
            printf '%s: running (pid %s, %s:%s)\n' "${c}" "${pid}" "${host}" "${port}"
        else
            printf '%s: not running\n' "${c}"
            ok=1
        fi
    done
    if ((ok == 0)); then
        api_port=$(cat "${state}/kube-apiserver.port")
        token=$(admin_token 2>/dev/null || true)
        api_host=$(api_host)
        if curl_api /readyz >/dev/null 2>&1; then
            printf 'kube-apiserver: /readyz ok\n'
        else
            printf 'kube-apiserver: /readyz failing\n'
            ok=1
        fi
    fi
    if [[ -f ${state}/node-ip ]]; then
        printf 'mode: node (%s)\n' "$(cat "${state}/node-ip")"
    fi
    if [[ -f ${env_file} ]]; then
        printf 'env: %s\n' "${env_file}"
    fi
    return "${ok}"
}

cmd_env() {
    [[ -f ${env_file} ]] || die "not started (no ${env_file}); run: $0 start"
    cat "${env_file}"
}

token=""
api_port=""
api_host=127.0.0.1
case ${1:-} in
    start) cmd_start "${@:2}" ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    env) cmd_env ;;
    restart-apiserver) cmd_restart_apiserver ;;
    -h | --help) sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0" ;;
    *)
        printf 'usage: %s start [--node]|stop|status|env|restart-apiserver\n' "$0" >&2
        exit 2
        ;;
esac
