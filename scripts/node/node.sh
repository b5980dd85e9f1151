#!/usr/bin/env bash
# A real single-node Kubernetes for tests, beside the control plane of
# scripts/control-plane/cluster.sh (see ../shared/notes/real-node.md, where each
# fact below was checked on this kind of machine). Needs root; one per machine.
#
#   scripts/node/node.sh up       build what is missing (build.sh, build.sh --node),
#                                 start the control plane in node mode unless it runs
#                                 so already, then the node; returns once the node is
#                                 Ready. What an interrupted run left behind is
#                                 removed first.
#   scripts/node/node.sh down     stop the node and leave the machine as it was before
#                                 `up` (the control plane keeps running: cluster.sh stop)
#   scripts/node/node.sh status   print what runs (exit 0 only if all of it runs and
#                                 the node is Ready)
#
# After `up`: `. .tmp/control-plane/env` (KUBECONFIG, as for the control plane).
#
# The node (name couple-node, address = the API server's node address, 10.211.0.1):
#   - containerd (Debian) with a private config, root, state and socket in the
#     state dir: restrict_oom_score_adj (root here lacks CAP_SYS_RESOURCE),
#     netns mounts under its state dir, the sandbox image couple.local/pause:3.4
#     made from the pause binary build.sh --node compiles and imported with ctr
#     (nothing is ever pulled); runc with cgroupfs.
#   - CNI: bridge couple-cni0 (gateway, masquerade, hairpin) with host-local IPAM
#     on 10.244.0.0/16 (its data in the state dir), then portmap; plugins from
#     /usr/lib/cni. net.ipv4.ip_forward=1.
#   - kubelet, kube-proxy (iptables mode) and kube-scheduler, on free ports.
#   - DNS for Service names: dnsmasq on the node address, port 53, answering
#     <svc>.<ns>.svc.cluster.local (and headless Services' pod names) from a hosts
#     file that agent.py regenerates from the API; other names go to the
#     machine's resolver. The kubelet gives pods this server (--cluster-dns).
#   - hostPath PersistentVolumes: agent.py answers each pending claim with a
#     volume under the state dir (no storage class needed).
#
# One node per machine: the kubelet and kube-proxy use fixed host paths, the
# /kubepods cgroups, iptables KUBE-* chains and sysctls. `up` and `down` hold the
# lock ${COUPLE_NODE_RUN:-/run/couple-node}.lock; ${COUPLE_NODE_RUN}/owner names
# the state dir of the node that is up, and `up` refuses while another clone's
# node runs. Before starting, `up` records the sysctls it changes and which fixed
# paths exist; `down` restores exactly that (scripts/node/machine-check.sh
# compares the machine before `up` and after `down`).
#
# Environment:
#   COUPLE_NODE_DIR      state directory (default <repo>/.tmp/node)
#   COUPLE_NODE_TIMEOUT  seconds to wait for the node to be Ready (default 120)
#   COUPLE_CP_DIR        the control plane's state directory (see cluster.sh)
set -euo pipefail

LOG_NAME=node
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "${here}/../.." && pwd)
cluster=${repo}/scripts/control-plane/cluster.sh
build=${repo}/scripts/control-plane/build.sh
cp_dir=${COUPLE_CP_DIR:-${repo}/.tmp/control-plane}
[[ ${cp_dir} == /* ]] || cp_dir="${PWD}/${cp_dir}"
export COUPLE_CP_DIR=${cp_dir}
state=${COUPLE_NODE_DIR:-${repo}/.tmp/node}
[[ ${state} == /* ]] || state="${PWD}/${state}"
run_dir=${COUPLE_NODE_RUN:-/run/couple-node}
timeout_s=${COUPLE_NODE_TIMEOUT:-120}
marker=.couple-node

node_name=couple-node
pod_cidr=10.244.0.0/16
pod_gateway=10.244.0.1
bridge=couple-cni0
pause_image=couple.local/pause:3.4
cni_bin=/usr/lib/cni

# Stop order: what uses the node first, containerd last.
daemons=(kube-scheduler kube-proxy kubelet agent.py dnsmasq containerd)
# Host paths the kubelet, kube-proxy, containerd and the CNI plugins use whatever their
# configuration says; `down` removes the ones that did not exist before `up`.
fixed_paths=(/var/log/pods /var/log/containers /var/lib/kubelet /var/lib/cni /run/containerd
    /etc/cni /opt/cni /usr/libexec/kubernetes)
# Sysctls the node changes (the kubelet: vm.*, kernel.*; kube-proxy: route_localnet; this
# script: ip_forward); `down` restores the values recorded by `up`.
sysctls=(net.ipv4.ip_forward vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
    kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.conf.all.route_localnet
    net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables)

# ----------------------------------------------------------------- helpers

sysctl_path() { printf '/proc/sys/%s\n' "${1//.//}"; }

running() { daemon_pid "$1" "$2" >/dev/null; }

bin_dir() { "${build}" --bin-dir; }

kubectl_admin() { "$(bin_dir)/kubectl" --kubeconfig "${cp_dir}/kubeconfig" --request-timeout=10s "$@"; }

ctr_node() { ctr --address "$1/containerd/containerd.sock" "${@:2}"; }

# wait_until NAME LOG SECS CHECK...: poll CHECK every 0.5 s; fail with LOG's tail after SECS.
wait_until() {
    local name=$1 logfile=$2 secs=$3 i
    shift 3
    for ((i = 0; i < secs * 2; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    fail_with_log "${name} not ready after ${secs}s" "${logfile}"
}

node_ready() {
    [[ $(kubectl_admin get node "${node_name}" \
        -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}

# ----------------------------------------------------------------- teardown

# remove_chains IPTABLES: delete the jumps to KUBE-* and CNI-* chains from every chain, then
# flush and delete those chains, in the filter, nat and mangle tables.
remove_chains() {
    local ipt=$1 table rule chains c
    command -v "${ipt}" >/dev/null 2>&1 || return 0
    for table in filter nat mangle; do
        "${ipt}" -t "${table}" -S >/dev/null 2>&1 || continue
        while read -r rule; do
            [[ -n ${rule} ]] || continue
            # `-A CHAIN spec...` -> `-D CHAIN spec...`
            eval "'${ipt}' -w -t '${table}' -D ${rule#-A }" 2>/dev/null || true
        done < <("${ipt}" -w -t "${table}" -S | grep -E '^-A ' | grep -E -- '-j (KUBE|CNI)-' || true)
        chains=$("${ipt}" -w -t "${table}" -S | sed -n 's/^-N \(\(KUBE\|CNI\)-[^ ]*\)$/\1/p')
        for c in ${chains}; do "${ipt}" -w -t "${table}" -F "${c}" 2>/dev/null || true; done
        for c in ${chains}; do "${ipt}" -w -t "${table}" -X "${c}" 2>/dev/null || true; done
    done
}

# unmount_under DIR: unmount everything mounted at or below DIR, deepest first.
unmount_under() {
    local dir=$1 m
    [[ -n ${dir} && ${dir} == /* ]] || return 0
    while read -r m; do
        umount "${m}" 2>/dev/null || umount -l "${m}" 2>/dev/null || log "could not unmount ${m}"
    done < <(awk -v d="${dir}" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo \
        | awk '{ print length, $0 }' | sort -rn | cut -d' ' -f2-)
}

kubepods_cgroups() { compgen -G '/sys/fs/cgroup/*/kubepods' || true; [[ ! -d /sys/fs/cgroup/kubepods ]] || echo /sys/fs/cgroup/kubepods; }

# Kill what still runs in the kubelet's cgroups (containers whose kubelet, containerd and shims
# are gone: an interrupted run), then remove the cgroups (/kubepods in every hierarchy),
# deepest first. They are this node's: `up` refuses to start when they exist.
remove_cgroups() {
    local top d pids i
    for ((i = 0; i < 50; i++)); do
        pids=$(kubepods_cgroups | while read -r top; do find "${top}" -name cgroup.procs -exec cat {} + 2>/dev/null; done | sort -u)
        [[ -n ${pids} ]] || break
        ((i > 0)) || log "killing $(wc -w <<<"${pids}") process(es) left in the kubepods cgroups"
        # shellcheck disable=SC2086 # one pid a word
        kill -KILL ${pids} 2>/dev/null || true
        sleep 0.1
    done
    while read -r top; do
        [[ -n ${top} ]] || continue
        while read -r d; do
            rmdir "${d}" 2>/dev/null || log "could not remove cgroup ${d}"
        done < <(find "${top}" -depth -type d)
    done < <(kubepods_cgroups)
}

pods_on_node() {
    kubectl_admin get pods -A --field-selector "spec.nodeName=${node_name}" \
        -o 'jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name}{"\n"}{end}'
}

# Delete the pods bound to the node (the scheduler is stopped first, so nothing new lands on
# it) and wait until the kubelet has stopped them: their volumes unmounted, CNI DEL done. The
# 1.20 kubelet never finishes deleting a pod none of whose containers started (an image it
# may not pull): after 15 s what is left is deleted with --force, and the kubelet's
# housekeeping stops those sandboxes as orphans; then wait until containerd runs nothing.
drain_pods() {
    local dir=$1 i pods
    kubectl_admin cordon "${node_name}" >/dev/null 2>&1 || return 0
    for ((i = 0; i < 60; i++)); do
        pods=$(pods_on_node 2>/dev/null) || return 0
        [[ -n ${pods} ]] || break
        if ((i == 0)); then
            log "deleting $(wc -l <<<"${pods}") pod(s) on the node"
            kubectl_admin delete pods -A --field-selector "spec.nodeName=${node_name}" \
                --grace-period=5 --wait=false >/dev/null 2>&1 || true
        elif ((i == 30)); then
            log "deleting the $(wc -l <<<"${pods}") pod(s) still there with --force"
            force_delete_pods
        fi
        sleep 0.5
    done
    for ((i = 0; i < 60; i++)); do
        [[ -z "$(ctr_node "${dir}" -n k8s.io tasks ls -q 2>/dev/null)" ]] && return 0
        sleep 0.5
    done
    log "containers still running after the pods were deleted; killing them"
}

# Remove the pods bound to the node from the API at once (no kubelet confirms).
force_delete_pods() {
    kubectl_admin delete pods -A --field-selector "spec.nodeName=${node_name}" \
        --grace-period=0 --force --wait=false >/dev/null 2>&1 || true
}

# Kill the containers containerd still runs (a kubelet that died leaves them), so their shims
# exit; then any shim of this containerd that is left.
stop_containers() {
    local dir=$1 id pid
    if running "${dir}" containerd; then
        for id in $(ctr_node "${dir}" -n k8s.io tasks ls -q 2>/dev/null); do
            ctr_node "${dir}" -n k8s.io tasks kill -s SIGKILL "${id}" >/dev/null 2>&1 || true
        done
        sleep 0.5
        for id in $(ctr_node "${dir}" -n k8s.io tasks ls -q 2>/dev/null); do
            ctr_node "${dir}" -n k8s.io tasks delete -f "${id}" >/dev/null 2>&1 || true
        done
    fi
    for pid in $(pgrep -f "containerd-shim.*-address ${dir}/containerd/containerd.sock" || true); do
        stop_pid containerd-shim "${pid}" "${dir}/containerd/containerd.sock" 5
    done
}

# teardown DIR: stop the node whose state is DIR (ours, or an interrupted run's) and undo what
# it did to the machine (see the header), using what `up` recorded in ${run_dir}.
teardown() {
    local dir=$1 c pid
    if [[ -d ${dir} ]]; then
        pid=$(daemon_pid "${dir}" kube-scheduler) && stop_pid kube-scheduler "${pid}" kube-scheduler 15
        if running "${dir}" kubelet; then
            drain_pods "${dir}"
        else
            # An interrupted run: no kubelet stops these pods, and a new node of the same name
            # would take them for its own; their containers are killed below.
            force_delete_pods
        fi
        for c in "${daemons[@]}"; do
            [[ ${c} == containerd ]] && stop_containers "${dir}"
            pid=$(daemon_pid "${dir}" "${c}") || continue
            stop_pid "${c}" "${pid}" "${c}" 15
        done
        kubectl_admin delete node "${node_name}" --wait=false >/dev/null 2>&1 || true
        if [[ -x "$(bin_dir)/kube-proxy" ]]; then
            "$(bin_dir)/kube-proxy" --cleanup >>"${dir}/kube-proxy-cleanup.log" 2>&1 || true
        fi
        unmount_under "${dir}"
    fi
    remove_chains iptables
    remove_chains ip6tables
    if ip link show "${bridge}" >/dev/null 2>&1; then
        ip link del "${bridge}"
    fi
    remove_cgroups
    local name value p
    if [[ -f ${run_dir}/sysctls ]]; then
        while read -r name value; do
            p=$(sysctl_path "${name}")
            [[ -w ${p} ]] && printf '%s\n' "${value}" >"${p}" 2>/dev/null || log "could not restore ${name}"
        done <"${run_dir}/sysctls"
    fi
    if [[ -f ${run_dir}/absent-paths ]]; then
        while read -r p; do
            [[ -n ${p} ]] || continue
            unmount_under "${p}"
            rm -rf -- "${p}"
        done <"${run_dir}/absent-paths"
    fi
    if [[ -d ${dir} ]]; then
        [[ -f ${dir}/${marker} ]] || die "${dir} exists but was not created by this script (no ${marker}); not touching it"
        chmod -R u+w "${dir}" 2>/dev/null || true
        rm -rf -- "${dir}"
    fi
    rm -f "${run_dir}/sysctls" "${run_dir}/absent-paths" "${run_dir}/owner"
    rmdir "${run_dir}" 2>/dev/null || true
}

# ------------------------------------------------------------------ commands

keep_logs() {
    rm -rf "${state}.failed"
    mkdir -p "${state}.failed"
    cp "${state}"/*.log "${state}.failed/" 2>/dev/null || true
    log "logs kept in ${state}.failed"
}

# Run a command without the lock's descriptor: a server started with it open would hold the
# lock for as long as it runs.
nolock() { "$@" 8>&-; }

# Hold the machine-wide lock for the rest of the script (up and down).
lock() {
    exec 8>"${run_dir}.lock"
    if ! flock -n 8; then
        log "another node.sh up/down holds ${run_dir}.lock; waiting"
        flock 8
    fi
}

# What an earlier or interrupted run left: another clone's running node is refused, anything
# else is torn down.
clean_leftovers() {
    local owner=""
    owner=$(cat "${run_dir}/owner" 2>/dev/null || true)
    if [[ -n ${owner} && ${owner} != "${state}" ]]; then
        local c
        for c in "${daemons[@]}"; do
            running "${owner}" "${c}" \
                && die "a node from ${owner} runs on this machine (${c}); stop it there first (node.sh down)"
        done
        log "removing what an interrupted node run (${owner}) left behind"
        teardown "${owner}"
    fi
    if [[ -n ${owner} || -e ${state} ]]; then
        log "removing what an earlier run left in ${state}"
        teardown "${state}"
    fi
}

# Record the sysctls and which fixed paths exist, for `down`.
record_machine() {
    local name p
    [[ -z "$(kubepods_cgroups)" ]] \
        || die "kubepods cgroups exist ($(kubepods_cgroups | head -n1)): another kubelet runs or ran on this machine"
    mkdir -p "${run_dir}"
    : >"${run_dir}/sysctls.tmp"
    for name in "${sysctls[@]}"; do
        p=$(sysctl_path "${name}")
        [[ -r ${p} ]] && printf '%s %s\n' "${name}" "$(cat "${p}")" >>"${run_dir}/sysctls.tmp"
    done
    mv "${run_dir}/sysctls.tmp" "${run_dir}/sysctls"
    : >"${run_dir}/absent-paths"
    for p in "${fixed_paths[@]}"; do
        [[ -e ${p} ]] || printf '%s\n' "${p}" >>"${run_dir}/absent-paths"
    done
    printf '%s\n' "${state}" >"${run_dir}/owner"
}

ensure_built() {
    "${build}" --check || "${build}" >&2
    "${build}" --node >&2 # also installs the node's packages when they are missing
}

ensure_control_plane() {
    if "${cluster}" status >/dev/null 2>&1 && [[ -f ${cp_dir}/node-ip && -f ${cp_dir}/node.kubeconfig ]]; then
        log "control plane already runs in node mode (${cp_dir})"
        return 0
    fi
    if [[ -f ${cp_dir}/env ]]; then
        log "restarting the control plane of ${cp_dir} in node mode"
    fi
    nolock "${cluster}" start --node >/dev/null
}

write_containerd_config() {
    mkdir -p "${state}/containerd" "${state}/cni/net.d" "${state}/cni/ipam"
    cat >"${state}/containerd/config.toml" <<EOF
# Written by scripts/node/node.sh: a containerd of its own, nothing global.
version = 2
root = "${state}/containerd/root"
state = "${state}/containerd/state"

[grpc]
  address = "${state}/containerd/containerd.sock"

[ttrpc]
  address = "${state}/containerd/containerd.sock.ttrpc"

[metrics]
  address = ""

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "${state}/containerd/opt"
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "${pause_image}"
    # Root here lacks CAP_SYS_RESOURCE: without this runc cannot set the negative
    # oom_score_adj containerd gives sandboxes, and every pod fails.
    restrict_oom_score_adj = true
    netns_mounts_under_state_dir = true
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "${cni_bin}"
      conf_dir = "${state}/cni/net.d"
EOF
    cat >"${state}/cni/net.d/10-couple.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "couple",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "${bridge}",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "${pod_cidr}", "gateway": "${pod_gateway}"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "${state}/cni/ipam"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
}

cmd_up() {
    [[ ${EUID} -eq 0 ]] || die "the node needs root (containerd, iptables, mounts, cgroups)"
    ensure_built
    lock
    clean_leftovers
    local t0=${SECONDS}
    ensure_control_plane
    local bin node_ip server
    bin=$(bin_dir)
    node_ip=$(cat "${cp_dir}/node-ip")
    server=$(sed -n 's/^ *server: //p' "${cp_dir}/kubeconfig")

    record_machine
    mkdir -p "${state}"
    : >"${state}/${marker}"
    chmod 0700 "${state}"
    # On failure stop what was started and undo it; the logs are kept in ${state}.failed.
    trap 'rc=$?; if ((rc != 0)); then keep_logs; teardown "${state}" || true; fi' EXIT

    printf '1\n' >"$(sysctl_path net.ipv4.ip_forward)"
    # Pod -> ClusterIP -> pod on the same bridge needs bridged traffic to pass iptables.
    local p
    for p in net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables; do
        p=$(sysctl_path "${p}")
        [[ ! -w ${p} ]] || printf '1\n' >"${p}"
    done

    # --- containerd, and the pause image
    write_containerd_config
    nolock daemon_start "${state}" containerd "${state}/containerd.log" \
        containerd --config "${state}/containerd/config.toml"
    wait_until containerd "${state}/containerd.log" 30 ctr_node "${state}" version
    "${repo}/scripts/node/image.py" "${state}/pause.tar" "${pause_image}" \
        --entrypoint /pause --user 65535 --file "${bin}/pause:/pause"
    ctr_node "${state}" -n k8s.io images import "${state}/pause.tar" >>"${state}/containerd.log" 2>&1 \
        || fail_with_log "ctr images import of the pause image failed" "${state}/containerd.log"
    log "containerd running (pid $(daemon_pid "${state}" containerd)), ${pause_image} imported"

    # --- DNS for Service names, hostPath volumes for claims
    mkdir -p "${state}/dns" "${state}/volumes"
    : >"${state}/dns/hosts"
    nolock daemon_start "${state}" dnsmasq "${state}/dnsmasq.log" \
        dnsmasq --keep-in-foreground --conf-file=/dev/null --no-hosts \
        --addn-hosts="${state}/dns/hosts" --listen-address="${node_ip}" --bind-interfaces \
        --port=53 --user=root --local=/cluster.local/ --domain-needed --no-negcache \
        --pid-file="${state}/dns/dnsmasq.pid" --log-facility=-
    nolock daemon_start "${state}" agent.py "${state}/agent.log" \
        python3 "${repo}/scripts/node/agent.py" --server "${server}" \
        --token-file "${cp_dir}/tokens.csv" --hosts "${state}/dns/hosts" \
        --dnsmasq-pid-file "${state}/dnsmasq.pid" --volumes "${state}/volumes"

    # --- kube-scheduler, kubelet, kube-proxy
    local sched_port kubelet_port kubelet_healthz proxy_healthz proxy_metrics
    read -r sched_port kubelet_port kubelet_healthz proxy_healthz proxy_metrics <<<"$(pick_ports 5)"
    mkdir -p "${state}/scheduler-certs" "${state}/kubelet"
    nolock daemon_start "${state}" kube-scheduler "${state}/kube-scheduler.log" "${bin}/kube-scheduler" \
        --kubeconfig="${cp_dir}/kube-scheduler.kubeconfig" \
        --leader-elect=false --port=0 --bind-address=127.0.0.1 --secure-port="${sched_port}" \
        --cert-dir="${state}/scheduler-certs"
    # Eviction thresholds low enough for a test machine's disk; image GC off (the images
    # are imported, never pulled back).
    nolock daemon_start "${state}" kubelet "${state}/kubelet.log" "${bin}/kubelet" \
        --kubeconfig="${cp_dir}/node.kubeconfig" \
        --hostname-override="${node_name}" --node-ip="${node_ip}" --address="${node_ip}" \
        --port="${kubelet_port}" --read-only-port=0 \
        --healthz-bind-address=127.0.0.1 --healthz-port="${kubelet_healthz}" \
        --root-dir="${state}/kubelet" --volume-plugin-dir="${state}/kubelet/volume-plugins" \
        --container-runtime=remote \
        --container-runtime-endpoint="unix://${state}/containerd/containerd.sock" \
        --cgroup-driver=cgroupfs --fail-swap-on=false \
        --cluster-dns="${node_ip}" --cluster-domain=cluster.local \
        --eviction-hard='memory.available<50Mi,nodefs.available<1%,nodefs.inodesFree<1%,imagefs.available<1%' \
        --image-gc-high-threshold=100 --image-gc-low-threshold=99 \
        --serialize-image-pulls=false
    nolock daemon_start "${state}" kube-proxy "${state}/kube-proxy.log" "${bin}/kube-proxy" \
        --kubeconfig="${cp_dir}/kube-proxy.kubeconfig" \
        --hostname-override="${node_name}" --bind-address="${node_ip}" \
        --proxy-mode=iptables --cluster-cidr="${pod_cidr}" \
        --healthz-bind-address="127.0.0.1:${proxy_healthz}" \
        --metrics-bind-address="127.0.0.1:${proxy_metrics}" \
        --oom-score-adj=0 \
        --conntrack-max-per-core=0 --conntrack-min=0 \
        --conntrack-tcp-timeout-established=0 --conntrack-tcp-timeout-close-wait=0
    wait_until kubelet "${state}/kubelet.log" "${timeout_s}" node_ready
    trap - EXIT
    log "node ${node_name} Ready in $((SECONDS - t0))s; . ${cp_dir}/env"
    printf '%s\n' "${cp_dir}/env"
}

cmd_down() {
    [[ ${EUID} -eq 0 ]] || die "the node needs root"
    lock
    local owner
    owner=$(cat "${run_dir}/owner" 2>/dev/null || true)
    if [[ -n ${owner} && ${owner} != "${state}" ]]; then
        die "the node on this machine belongs to ${owner}; run its node.sh down"
    fi
    if [[ -z ${owner} && ! -e ${state} ]]; then
        log "nothing to stop (no node)"
        return 0
    fi
    teardown "${state}"
    log "node stopped, machine restored"
}

cmd_status() {
    local ok=0 c pid
    for c in "${daemons[@]}"; do
        if pid=$(daemon_pid "${state}" "${c}"); then
            printf '%s: running (pid %s)\n' "${c}" "${pid}"
        else
            printf '%s: not running\n' "${c}"
            ok=1
        fi
    done
    if node_ready; then
        printf 'node %s: Ready\n' "${node_name}"
    else
        printf 'node %s: not Ready\n' "${node_name}"
        ok=1
    fi
    return "${ok}"
}

case ${1:-} in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    -h | --help) sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0" ;;
    *)
        printf 'usage: %s up|down|status\n' "$0" >&2
        exit 2
        ;;
esac
