# Shell helpers the project's scripts share. Source it after setting LOG_NAME:
#   LOG_NAME=test-services; source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck shell=bash

log() { printf '%s: %s\n' "${LOG_NAME:-script}" "$*" >&2; }
die() {
    printf '%s: error: %s\n' "${LOG_NAME:-script}" "$*" >&2
    exit 1
}

# Run as root directly, otherwise through sudo (developer machines).
as_root() {
    if [[ ${EUID} -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo DEBIAN_FRONTEND=noninteractive "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

pkg_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

# pid_is PID PATTERN: PID is a live (not zombie) process whose command line
# contains PATTERN. Guards against stale pid files whose pid was recycled,
# and against zombies (kill -0 succeeds on those; in containers whose init
# is slow to reap they can linger).
pid_is() {
    local pid=$1 pattern=$2 st cmd
    [[ ${pid} =~ ^[0-9]+$ ]] || return 1
    st=$(grep -m1 '^State:' "/proc/${pid}/status" 2>/dev/null) || return 1
    [[ ${st} =~ ^State:[[:space:]]+[ZX] ]] && return 1
    cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/${pid}/cmdline") || return 1
    [[ ${cmd} == *"${pattern}"* ]]
}

fail_with_log() {
    local msg=$1 logfile=$2
    {
        printf '%s: error: %s\n' "${LOG_NAME:-script}" "${msg}"
        if [[ -f ${logfile} ]]; then
            printf -- '--- last lines of %s ---\n' "${logfile}"
            tail -n 30 "${logfile}"
            printf -- '---\n'
        fi
    } >&2
    exit 1
}

# Print N distinct free TCP ports on 127.0.0.1. python3 asks the kernel
# (bind to port 0) while holding all sockets, so the ports are distinct;
# plain bash is the fallback on machines without python3. There is an
# unavoidable small race between picking and the server binding.
pick_ports() {
    local n=$1
    if command -v python3 >/dev/null 2>&1 && python3 - "${n}" 2>/dev/null <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
    then
        return
    fi
    # Fallback: random ports below the Linux ephemeral range (32768+), so
    # outgoing connections do not grab them; skip ports something listens on.
    local picked=() p tries=0
    while ((${#picked[@]} < n)); do
        ((++tries < 1000)) || die "could not find free ports"
        p=$((20000 + RANDOM % 12000))
        [[ " ${picked[*]} " == *" ${p} "* ]] && continue
        if (: <"/dev/tcp/127.0.0.1/${p}") 2>/dev/null; then
            continue # something is listening
        fi
        picked+=("${p}")
    done
    printf '%s\n' "${picked[*]}"
}
