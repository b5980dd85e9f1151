#!/usr/bin/env bash
# What a node run may change on the machine, as text, to compare before `node.sh up` and after
# `node.sh down` (scripts/node/check.sh does).
#
#   scripts/node/machine-state.sh snapshot FILE    write the machine's state to FILE
#   scripts/node/machine-state.sh compare A B      exit 0 if equal, else print the difference
#
# Covered: the node's processes (by program, with counts), mounts, iptables and ip6tables rules
# and chains (filter, nat, mangle, raw), ipsets, network interfaces, addresses and routes,
# cgroups (two levels), the sysctls the node changes, the fixed paths it uses, kernel modules.
# Needs root (iptables, ipset).
set -euo pipefail

LOG_NAME=machine-state
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

programs='^(containerd|containerd-shim.*|runc|kubelet|kube-proxy|kube-scheduler|dnsmasq|pause)$'
sysctls=(net.ipv4.ip_forward vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
    kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.conf.all.route_localnet
    net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables)
fixed_paths=(/var/log/pods /var/log/containers /var/lib/kubelet /var/lib/cni /run/containerd
    /etc/cni /opt/cni /usr/libexec/kubernetes /run/couple-node)

snapshot() {
    local ipt table name p
    echo '## processes'
    # Zombies are gone already, only not yet reaped (a slow init).
    ps -eo stat=,comm= | awk '$1 !~ /^Z/ { print $2 }' | grep -E "${programs}" | sort | uniq -c || true
    printf 'agent.py %s\n' "$(ps -eo args= | grep -c '[s]cripts/node/agent.py' || true)"
    echo '## mounts'
    awk '{ print $5 }' /proc/self/mountinfo | sort
    for ipt in iptables ip6tables; do
        command -v "${ipt}" >/dev/null 2>&1 || continue
        for table in filter nat mangle raw; do
            echo "## ${ipt} ${table}"
            "${ipt}" -w -t "${table}" -S 2>/dev/null || true
        done
    done
    echo '## ipsets'
    if command -v ipset >/dev/null 2>&1; then ipset list -n 2>/dev/null | sort || true; fi
    echo '## links'
    ip -o link show | awk '{ print $2 }' | sed 's/@.*//' | sort
    echo '## addresses'
    ip -o addr show | awk '{ print $2, $3, $4 }' | sort
    echo '## routes'
    ip route show table all 2>/dev/null | sort
    echo '## cgroups'
    find /sys/fs/cgroup -mindepth 1 -maxdepth 2 -type d 2>/dev/null | sort
    echo '## sysctls'
    for name in "${sysctls[@]}"; do
        p=/proc/sys/${name//.//}
        [[ -r ${p} ]] && printf '%s = %s\n' "${name}" "$(cat "${p}")"
    done
    echo '## fixed paths'
    for p in "${fixed_paths[@]}"; do
        [[ -e ${p} ]] && printf '%s exists\n' "${p}"
    done
    echo '## kernel modules'
    if [[ -r /proc/modules ]]; then awk '{ print $1 }' /proc/modules | sort; fi
}

case ${1:-} in
    snapshot)
        [[ -n ${2:-} ]] || die "usage: $0 snapshot FILE"
        snapshot >"$2.tmp"
        mv "$2.tmp" "$2"
        ;;
    compare)
        [[ -n ${2:-} && -n ${3:-} ]] || die "usage: $0 compare A B"
        if diff -u "$2" "$3"; then
            log "the machine is as it was"
        else
            log "the machine differs (above: - before, + after)"
            exit 1
        fi
        ;;
    *)
        printf 'usage: %s snapshot FILE | compare A B\n' "$0" >&2
        exit 2
        ;;
esac
