# The shell library the project's scripts share. Source it after setting LOG_NAME:
#   LOG_NAME=test-services; source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
#
#   log, die, fail_with_log       messages (prefixed with LOG_NAME) and failing with a log's tail
#   as_root, pkg_installed        system packages
#   cargo_on_path                 put ~/.cargo/bin on PATH (rustup installs there)
#   cargo_target_dir              the workspace's target directory (respects CARGO_TARGET_DIR)
#   pick_ports N                  N distinct free 127.0.0.1 ports
#   wait_ready NAME URL [T] [PID] poll URL until it answers 2xx
#   pid_is, stop_pid              processes by pid, never by name
#   daemon_start, daemon_pid      a server in the background, its pid in DIR/NAME.pid
#   state_fresh, state_teardown, state_stop
#                                 a state directory of servers (test-services.sh, cluster.sh)
#   registry_*                    the service registry (couple-registry)
#   platform_start, platform_stop scripts/run.sh on free ports, for smoke.sh and fuzz.sh
#   stage, stage_summary          timed stages (make test, .ci/run)
# shellcheck shell=bash

# The repository this library belongs to.
COUPLE_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

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

# ------------------------------------------------------------------- processes

# stop_pid NAME PID PATTERN [GRACE_SECS]: stop process PID if it still is PATTERN (pid_is):
# SIGTERM, up to GRACE_SECS (default 15) to exit, then SIGKILL. Dies if even that fails.
stop_pid() {
    local name=$1 pid=$2 pattern=$3 grace=${4:-15} i
    pid_is "${pid}" "${pattern}" || return 0
    kill -TERM "${pid}" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
        pid_is "${pid}" "${pattern}" || break
        sleep 0.1
    done
    if pid_is "${pid}" "${pattern}"; then
        log "${name} (pid ${pid}) ignored SIGTERM for ${grace}s; sending SIGKILL"
        kill -KILL "${pid}" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            pid_is "${pid}" "${pattern}" || break
            sleep 0.1
        done
    fi
    if pid_is "${pid}" "${pattern}"; then
        die "could not stop ${name} (pid ${pid})"
    fi
    log "${name} stopped (pid ${pid})"
}

# daemon_pid DIR NAME: print the pid in DIR/NAME.pid if that process runs and is NAME (pid_is),
# else fail.
daemon_pid() {
    local pid
    pid=$(cat "$1/$2.pid" 2>/dev/null || true)
    pid_is "${pid}" "$2" || return 1
    printf '%s\n' "${pid}"
}

# daemon_start DIR NAME LOG CMD...: start CMD in the background (own session, stdin /dev/null,
# output to LOG), record its pid in DIR/NAME.pid and wait until it has exec'd (its command line
# contains NAME). setsid: a Ctrl-C aimed at the caller (make, a test runner) does not hit the
# server; the script's stop ends it. The background child is not a process-group leader, so
# setsid execs without forking and $! is the server's own pid.
daemon_start() {
    local dir=$1 name=$2 logfile=$3 pid i
    shift 3
    setsid "$@" </dev/null >"${logfile}" 2>&1 &
    pid=$!
    printf '%s\n' "${pid}" >"${dir}/${name}.pid"
    # Until the child has exec'd, /proc shows bash or setsid.
    for ((i = 0; i < 50; i++)); do
        pid_is "${pid}" "${name}" && return 0
        sleep 0.1
    done
    fail_with_log "${name} did not start (pid ${pid})" "${logfile}"
}

# ------------------------------------------------------ state directories of servers
#
# test-services.sh and control-plane/cluster.sh keep everything of one run (data, logs, pid
# files) in one directory, marked as theirs by a marker file: they refuse to delete a directory
# without it, so a mistyped COUPLE_TEST_DIR or COUPLE_CP_DIR can never wipe unrelated files.

# state_teardown DIR MARKER STOP_CMD...: run STOP_CMD (stops the servers of DIR), then delete DIR.
# Nothing to do when DIR does not exist; dies when it lacks the file MARKER.
state_teardown() {
    local dir=$1 marker=$2
    shift 2
    [[ -e ${dir} ]] || return 0
    [[ -f ${dir}/${marker} ]] ||
        die "${dir} exists but was not created by this script (no ${marker}); not touching it"
    "$@"
    rm -rf -- "${dir}"
}

# state_stop DIR MARKER STOP_CMD...: the `stop` subcommand: state_teardown, saying what it did.
state_stop() {
    if [[ ! -e $1 ]]; then
        log "nothing to stop ($1 does not exist)"
        return 0
    fi
    state_teardown "$@"
    log "removed $1"
}

# state_fresh DIR MARKER STOP_CMD...: make DIR an empty directory carrying MARKER, for a `start`.
# What an earlier start left there is stopped and deleted first (state_teardown); a non-empty
# DIR without MARKER is refused.
state_fresh() {
    local dir=$1 marker=$2
    if [[ -e ${dir} ]]; then
        if [[ -f ${dir}/${marker} ]]; then
            log "stopping/removing what an earlier start left in ${dir}"
            state_teardown "$@"
        elif [[ -n "$(ls -A "${dir}" 2>/dev/null)" ]]; then
            die "${dir} is not empty and was not created by this script; refusing to use it"
        fi
    fi
    mkdir -p "${dir}"
    : >"${dir}/${marker}"
}

# ----------------------------------------------------------------------- cargo

# rustup installs cargo (and what `cargo install` adds) in ~/.cargo/bin, which a non-login shell
# (CI, make) may not have on PATH.
cargo_on_path() {
    local dir="${HOME:-/root}/.cargo/bin"
    if [[ -d ${dir} && ":${PATH}:" != *":${dir}:"* ]]; then
        export PATH="${dir}:${PATH}"
    fi
}

# `cargo metadata --no-deps` of the workspace, run once per script: call cargo_metadata_load in
# the script's own shell (not in $(...)) before the helpers below, so they share the one run.
_couple_metadata=""
cargo_metadata_load() {
    [[ -n ${_couple_metadata} ]] && return 0
    _couple_metadata=$(cd "${COUPLE_REPO}" && cargo metadata --format-version 1 --no-deps) ||
        die "cargo metadata failed"
}

# The workspace's target directory (CARGO_TARGET_DIR when set, as cargo itself decides).
cargo_target_dir() {
    cargo_metadata_load
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])' <<<"${_couple_metadata}"
}

# The names of the workspace's binary targets, one a line.
workspace_bins() {
    cargo_metadata_load
    python3 -c '
import json, sys
for package in json.load(sys.stdin)["packages"]:
    for target in package["targets"]:
        if "bin" in target["kind"]:
            print(target["name"])' <<<"${_couple_metadata}"
}

# ------------------------------------------------------------------- ports, readiness

# Print N distinct free TCP ports on 127.0.0.1, on one line. The Python helper (scripts/lib/common.py,
# which the Python scripts import) asks the kernel while holding all sockets, so the ports are
# distinct; plain bash is the fallback on machines without python3. There is an unavoidable
# small race between picking and the server binding.
pick_ports() {
    local n=$1
    if command -v python3 >/dev/null 2>&1 && python3 "${COUPLE_REPO}/scripts/lib/common.py" ports "${n}" 2>/dev/null; then
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

# wait_ready NAME URL [TIMEOUT_SECS] [PID]: poll URL until it answers 2xx (every 50 ms for the
# first 5 s, then every 250 ms). Returns 1, saying why, after TIMEOUT_SECS (default 10), or as
# soon as process PID (when given: the server, or a script starting it) is gone.
wait_ready() {
    local name=$1 url=$2 timeout=${3:-10} pid=${4:-} start=${SECONDS}
    while :; do
        curl -fsS -o /dev/null --max-time 2 "${url}" 2>/dev/null && return 0
        if [[ -n ${pid} ]] && ! pid_is "${pid}" ""; then
            log "${name} exited before it was ready at ${url}"
            return 1
        fi
        if ((SECONDS - start >= timeout)); then
            log "${name} did not become ready at ${url} within ${timeout}s"
            return 1
        fi
        if ((SECONDS - start < 5)); then sleep 0.05; else sleep 0.25; fi
    done
}

# ------------------------------------------------------------------- the service registry
#
# The couple-registry binary (services/registry) is the one list of the platform's services:
# names, ports, environment prefixes, storage, who calls whom. It runs once per script: call
# registry_load in the script's own shell (not in $(...)) before the helpers below, so they share
# the one run. The helpers print tab-separated lines.

# The JSON is exported as COUPLE_REGISTRY_JSON, so the scripts this one starts (smoke.sh and
# fuzz.sh start run.sh) reuse it instead of running cargo again.
_couple_registry=${COUPLE_REGISTRY_JSON:-}
registry_load() {
    [[ -n ${_couple_registry} ]] && return 0
    _couple_registry=$(cd "${COUPLE_REPO}" && cargo run --quiet -p couple-registry -- json) ||
        die "could not read the service registry (cargo run -p couple-registry -- json)"
    export COUPLE_REGISTRY_JSON=${_couple_registry}
}

# Answers the questions below from the registry's JSON on stdin: MODE [ARGS...].
_registry_query='
import json, sys
entries = json.load(sys.stdin)
by_name = {e["name"]: e for e in entries}
mode, args = sys.argv[1], sys.argv[2:]
def line(*fields):
    print("\t".join(str(f) for f in fields))
if mode == "table":
    for e in entries:
        line(e["name"], e["port"], e["envPrefix"])
elif mode == "binaries":
    # Registry entries with a binary target of the same name, each after the ones it calls
    # (registry order otherwise): services first, the gateway last.
    present = [e for e in entries if e["name"] in set(args)]
    names = {e["name"] for e in present}
    done, order = set(), []
    while len(order) < len(present):
        ready = [e for e in present if e["name"] not in done
                 and all(c in done or c not in names for c in e["calls"])]
        if not ready:  # a cycle: keep registry order for the rest
            ready = [e for e in present if e["name"] not in done]
        order.append(ready[0])
        done.add(ready[0]["name"])
    for e in order:
        line(e["name"], e["port"], e["envPrefix"])
elif mode == "postgres":
    print(by_name[args[0]]["storage"]["postgres"])
elif mode == "peers":
    # VARIABLE, peer name, peer registry port, peer env prefix: one line a peerUrlVars entry.
    e = by_name[args[0]]
    for var in e["peerUrlVars"]:
        peer = next(p for p in entries if var == e["envPrefix"] + p["envPrefix"] + "URL")
        line(var, peer["name"], peer["port"], peer["envPrefix"])
elif mode == "erasure":
    # For an entry that owns accounts: VARIABLE and its erasure targets among the services
    # given (those that run), comma-separated.
    e = by_name[args[0]]
    if e.get("erasureServicesVar"):
        running = set(args[1:])
        line(e["erasureServicesVar"], ",".join(t for t in e["erasureTargets"] if t in running))
else:
    sys.exit(f"unknown registry query {mode}")
'
_registry() {
    registry_load
    python3 -c "${_registry_query}" "$@" <<<"${_couple_registry}"
}

# name, port, env prefix of every registry entry, services first, the gateway last.
registry_table() { _registry table; }

# name, port, env prefix of the registry entries that have a binary in the workspace (a bin
# target of that name), in start order: each after the services it calls, the gateway last.
registry_binaries() {
    local bins
    bins=$(workspace_bins) || return 1
    # shellcheck disable=SC2086 # one binary name a word
    _registry binaries ${bins}
}

# registry_postgres NAME: whether NAME uses PostgreSQL: yes, no or whenScaled.
registry_postgres() { _registry postgres "$1"; }

# registry_peers NAME: the variables giving NAME its peers' base URLs (<PREFIX><PEER>_URL), one a
# line with the peer's name, registry port and env prefix. Peers are the services it calls and,
# for user-couple, the services it erases deleted accounts in.
registry_peers() { _registry peers "$1"; }

# registry_erasure NAME RUNNING...: for the service that owns accounts, one line: the variable
# naming where deleted accounts are erased (USER_COUPLE_ERASURE_SERVICES) and, comma-separated,
# those of its erasure targets among RUNNING; nothing for any other service.
registry_erasure() { _registry erasure "$@"; }

# registry_free_ports: a free port for every registry binary, for a run beside anything else on
# the machine. Sets the arrays registry_port (name -> port) and registry_port_env
# (<PREFIX>PORT=port, for `env`). Call it in the script's own shell.
declare -A registry_port=()
registry_port_env=()
registry_free_ports() {
    local lines=() ports=() i name prefix
    registry_port=()
    registry_port_env=()
    cargo_metadata_load
    registry_load
    mapfile -t lines < <(registry_binaries)
    ((${#lines[@]} > 0)) || die "no registry entry has a binary in the workspace"
    read -ra ports <<<"$(pick_ports "${#lines[@]}")"
    for i in "${!lines[@]}"; do
        IFS=$'\t' read -r name _ prefix <<<"${lines[i]}"
        # shellcheck disable=SC2034 # for the scripts that source this library
        registry_port[${name}]=${ports[i]}
        registry_port_env+=("${prefix}PORT=${ports[i]}")
    done
}

# ------------------------------------------------------------------- the platform, as `make run`

# platform_start LOG TIMEOUT [VAR=VALUE...]: start scripts/run.sh (what `make run` runs) in a
# session of its own, on a free port for every registry binary (registry_free_ports), with the
# extra variables, its output in LOG; wait up to TIMEOUT seconds (it builds first) until the
# gateway is ready. Sets platform_pid and platform_api (the gateway's base URL). Install a trap
# calling platform_stop first; call both in the script's own shell.
platform_pid=""
platform_api=""
platform_start() {
    local logfile=$1 timeout=$2
    shift 2
    registry_free_ports
    env "${registry_port_env[@]}" "$@" setsid "${COUPLE_REPO}/scripts/run.sh" >"${logfile}" 2>&1 &
    platform_pid=$!
    platform_api="http://127.0.0.1:${registry_port[gateway]}"
    wait_ready "scripts/run.sh" "${platform_api}/readyz" "${timeout}" "${platform_pid}"
}

# Stop what platform_start started (run.sh and the services: its whole session).
platform_stop() {
    [[ -n ${platform_pid} ]] || return 0
    kill -TERM -- "-${platform_pid}" 2>/dev/null || true
    wait "${platform_pid}" 2>/dev/null || true
}

# ------------------------------------------------------------------- timed stages

# stage NAME CMD...: print "==> NAME", run CMD, then print how long it took. When CMD fails, print
# the summary (stage_summary) and exit with its status. CMD runs as the left side of `||`, where
# `set -e` does not apply: make it a program (a script, make, cargo), or a shell function whose
# status tells its failure.
_stage_names=()
_stage_secs=()
_stage_notes=()
_stage_start_us=""
_stage_now_us() { local t=${EPOCHREALTIME}; printf '%s\n' "${t/[.,]/}"; }
_stage_fmt() { printf '%d.%d' $(($1 / 1000000)) $(($1 % 1000000 / 100000)); }
stage() {
    local name=$1 t0 us rc=0
    shift
    t0=$(_stage_now_us)
    [[ -n ${_stage_start_us} ]] || _stage_start_us=${t0}
    printf '\n==> %s\n' "${name}"
    "$@" || rc=$?
    us=$(($(_stage_now_us) - t0))
    _stage_names+=("${name}")
    if ((rc != 0)); then
        _stage_secs+=("$(_stage_fmt "${us}")")
        _stage_notes+=("FAILED (exit ${rc})")
        printf '==> %s FAILED after %s s (exit %d)\n' "${name}" "$(_stage_fmt "${us}")" "${rc}"
        stage_summary
        exit "${rc}"
    fi
    _stage_secs+=("$(_stage_fmt "${us}")")
    _stage_notes+=("")
    printf '==> %s: %s s\n' "${name}" "$(_stage_fmt "${us}")"
}

# Print every stage so far with its seconds, and the total (wall time since the first stage).
stage_summary() {
    local i total=0 width=7
    [[ -n ${_stage_start_us} ]] && total=$(($(_stage_now_us) - _stage_start_us))
    for i in "${!_stage_names[@]}"; do
        ((${#_stage_names[i]} > width)) && width=${#_stage_names[i]}
    done
    printf '\n==> time per stage (%s)\n' "${LOG_NAME:-script}"
    printf '    %-*s %8s\n' "${width}" stage seconds
    for i in "${!_stage_names[@]}"; do
        printf '    %-*s %8s%s\n' "${width}" "${_stage_names[i]}" "${_stage_secs[i]}" "${_stage_notes[i]:+  ${_stage_notes[i]}}"
    done
    printf '    %-*s %8s\n' "${width}" total "$(_stage_fmt "${total}")"
}
