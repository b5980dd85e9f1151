# What the benchmark scripts (bench.sh, bench-questions.sh, bench-chat.sh, ...) share. Source it after
# lib/common.sh, with `work` set to the script's own scratch directory (emptied here):
#
#   bench_prepare BIN...       oha (installed once), release builds of BIN; sets `bin`
#   bench_build BIN...         release builds of BIN only; sets `bin`
#   bench_services             PostgreSQL, Redis and the MongoDB wire server under ${work};
#                              sources their env (TEST_DATABASE_URL, ...); shared secrets
#   bench_database NAME        a fresh PostgreSQL database; prints its URL
#   bench_start NAME URL CMD.. starts a server in the background (log in ${work}/NAME.log),
#                              waits until URL answers; sets bench_pid[NAME], startup_ms[NAME]
#   bench_stop NAME            stops it
#   run_oha NAME ARGS...       oha for BENCH_SECS seconds, JSON in ${work}/NAME.json
#   summarise FILE             "p50_ms p99_ms throughput errors" of an oha JSON file
#   load ARGS...               scripts/bench-load.mjs (Node.js installed from Debian if missing)
#   rss_kib PID, now_ms
# shellcheck shell=bash disable=SC2034,SC2154 # work comes from, bin, conns and startup_ms go to the scripts sourcing this

secs=${BENCH_SECS:-10}
conns=${BENCH_CONNECTIONS:-32}
rm -rf "${work}"
mkdir -p "${work}"

declare -A bench_pid=() startup_ms=()
_bench_extra_pids=()

_bench_cleanup() {
    local name
    for name in "${!bench_pid[@]}"; do kill "${bench_pid[${name}]}" 2>/dev/null || true; done
    for name in "${_bench_extra_pids[@]}"; do kill "${name}" 2>/dev/null || true; done
    COUPLE_TEST_DIR="${work}/services" "${COUPLE_REPO}/scripts/test-services.sh" stop >/dev/null 2>&1 || true
}
trap _bench_cleanup EXIT

# bench_on_exit PID: also kill PID (a server not started by bench_start) when the script exits.
bench_on_exit() { _bench_extra_pids+=("$1"); }

bench_prepare() {
    cargo_on_path
    if ! command -v oha >/dev/null 2>&1; then
        log "installing the load generator oha (cargo install, once)"
        cargo install oha --locked </dev/null
    fi
    bench_build "$@"
}

bench_build() {
    cargo_on_path
    log "building release binaries"
    local args=() name
    for name in "$@"; do args+=(--bin "${name}"); done
    cargo build --release "${args[@]}"
    bin="$(cargo_target_dir)/release"
}

bench_services() {
    log "starting PostgreSQL, Redis and the MongoDB wire server"
    COUPLE_TEST_DIR="${work}/services" "${COUPLE_REPO}/scripts/test-services.sh" start >/dev/null
    # shellcheck source=/dev/null
    source "${work}/services/env"
    COUPLE_JWT_SECRET="bench-secret-$(head -c 24 /dev/urandom | base64 | tr -d '=+/')"
    COUPLE_INTERNAL_TOKEN="bench-internal-$(head -c 24 /dev/urandom | base64 | tr -d '=+/')"
    export COUPLE_JWT_SECRET COUPLE_INTERNAL_TOKEN
    export COUPLE_LOG_FORMAT=json RUST_LOG=warn
}

bench_database() {
    psql -q "${TEST_DATABASE_URL}" -c "CREATE DATABASE $1" >/dev/null
    printf '%s\n' "${TEST_DATABASE_URL%/*}/$1"
}

now_ms() { date +%s%3N; }

# load ARGS...: the open-loop load generator for varied requests, on Node's own http.
load() {
    if ! command -v node >/dev/null 2>&1; then
        log "installing Node.js (Debian's nodejs) for scripts/bench-load.mjs"
        as_root apt-get update -q </dev/null >/dev/null
        as_root apt-get install -y -q --no-install-recommends nodejs </dev/null >/dev/null
    fi
    node "${COUPLE_REPO}/scripts/bench-load.mjs" "$@"
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# bench_start NAME URL CMD...: CMD (a command, environment assignments through `env`) in the
# background until the script exits or bench_stop NAME; start-up time is to URL answering 2xx.
bench_start() {
    local name=$1 url=$2 started
    shift 2
    started=$(now_ms)
    "$@" >"${work}/${name}.log" 2>&1 &
    bench_pid[${name}]=$!
    wait_ready "${name}" "${url}" 30 "${bench_pid[${name}]}" || fail_with_log "${name} did not start" "${work}/${name}.log"
    startup_ms[${name}]=$(($(now_ms) - started))
}

bench_stop() {
    local pid=${bench_pid[$1]:-}
    [[ -n ${pid} ]] || return 0
    kill "${pid}" 2>/dev/null || true
    wait "${pid}" 2>/dev/null || true
    unset "bench_pid[$1]"
}

# oha with latency correction (pass -q and --latency-correction): an open-loop schedule, so a
# slow response cannot hide the requests that should have been sent meanwhile.
run_oha() { # name, extra oha args...
    local name=$1
    shift
    oha --no-tui --output-format json -z "${secs}s" "$@" >"${work}/${name}.json"
}

# Errors: responses other than 2xx and failed requests, except those still in flight when the
# run's time was up (oha's "aborted due to deadline"), which are no fault of the server.
summarise() { # json file -> "p50_ms p99_ms rps errors"
    python3 - "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
lat = d.get("latencyPercentiles", {})
codes = d.get("statusCodeDistribution", {})
ok = sum(v for k, v in codes.items() if k.startswith("2"))
failed = {k: v for k, v in d.get("errorDistribution", {}).items() if k != "aborted due to deadline"}
errors = sum(codes.values()) - ok + sum(failed.values())
rps = d["summary"].get("requestsPerSec") or 0
p50 = (lat.get("p50") or 0) * 1000
p99 = (lat.get("p99") or 0) * 1000
print(f"{p50:.3f} {p99:.3f} {rps:.0f} {errors}")
PY
}
