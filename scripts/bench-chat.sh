#!/usr/bin/env bash
# The chat benchmark (`make bench-chat`): bench/chat-load opens N sockets in N/2 couple rooms (the
# two partners of each room), each socket sends at a fixed rate on an open-loop schedule, and each
# message is timed from its send to the partner's receipt. Scenarios, one after the other in one
# run, all through the gateway (JWT check on the upgrade, then spliced bytes):
#
#   sqlite      one chat replica on SQLite (the single-replica default)
#   postgres    one replica on PostgreSQL
#   redis       two replicas on PostgreSQL + Redis, each behind its own gateway; each room's two
#               partners on different replicas, so every message crosses Redis
#   sweep       the sqlite setup at rising rates per socket: the highest keeping p99 <= 20 ms
#   original    a re-creation of the original Django Channels chat (bench/original-chat: daphne,
#               in-memory channel layer, SQLite) under the same load at N and at a small N, and
#               ours at the small N too, for the ratios quality.md asks
#
# plus the chat processes' CPU and memory over each run. Couples are signed up and paired once
# (not measured); each scenario's chat lists their default rooms.
#
# Writes bench/results/chat.md; raw JSON under .tmp/bench-chat/. Knobs: BENCH_SECS (sending per
# run, default 10), BENCH_CHAT_SOCKETS (default 1000), BENCH_CHAT_SMALL_SOCKETS (default 200),
# BENCH_CHAT_RATE (per socket, default 1), BENCH_CHAT_SWEEP_RATES (default "2 5 10 20 40 80"),
# BENCH_CHAT_GRACE_SECS (wait for stragglers, default 5), BENCH_CHAT_ORIGINAL_GRACE_SECS
# (default 30: the original queues for tens of seconds at 1,000 sockets).
set -euo pipefail

LOG_NAME=bench-chat
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
root=${COUPLE_REPO}
cd "${root}"

sockets=${BENCH_CHAT_SOCKETS:-1000}
small=${BENCH_CHAT_SMALL_SOCKETS:-200}
rate=${BENCH_CHAT_RATE:-1}
sweep_rates=${BENCH_CHAT_SWEEP_RATES:-"2 5 10 20 40 80"}
grace=${BENCH_CHAT_GRACE_SECS:-5}
original_grace=${BENCH_CHAT_ORIGINAL_GRACE_SECS:-30}
target_p99_ms=20
work="${root}/.tmp/bench-chat"
venv="${root}/.tmp/original-chat-venv"
results="${root}/bench/results/chat.md"
mkdir -p "$(dirname "${results}")"
# shellcheck source=scripts/bench-lib.sh
source "${root}/scripts/bench-lib.sh"

# 1,000 sockets take descriptors in the client, the gateway and chat (the binaries raise their own
# soft limit too; daphne does not).
ulimit -n "$(ulimit -Hn)"

bench_build gateway user-couple chat chat-load
load="${bin}/chat-load"

# The venv is kept across runs (outside ${work}) while the requirements are the same.
if ! cmp -s bench/original-chat/requirements.txt "${venv}/requirements.txt"; then
    log "installing the original's Django, Channels and daphne in ${venv} (pip, once)"
    rm -rf "${venv}"
    python3 -m venv "${venv}"
    "${venv}/bin/pip" install -q -r bench/original-chat/requirements.txt </dev/null
    cp bench/original-chat/requirements.txt "${venv}/requirements.txt"
fi

bench_services
# Tokens outlive the whole run.
export COUPLE_ACCESS_TOKEN_TTL_SECS=7200

users_db=$(bench_database bench_users)
read -r uc_port <<<"$(pick_ports 1)"
log "starting user-couple on ${uc_port}"
USER_COUPLE_DATABASE_URL=${users_db} "${bin}/user-couple" migrate >"${work}/user-couple-migrate.log" 2>&1
# Hashing on every core: the sign-ups are set-up, not measured, and cost four Argon2id hashes a couple.
bench_start user-couple "http://127.0.0.1:${uc_port}/readyz" env USER_COUPLE_HOST=127.0.0.1 USER_COUPLE_PORT="${uc_port}" \
    USER_COUPLE_DATABASE_URL="${users_db}" USER_COUPLE_AUTO_MIGRATE=false USER_COUPLE_REDIS_URL="${TEST_REDIS_URL}" \
    USER_COUPLE_LOGIN_FAILURES_PER_CLIENT=1000000 USER_COUPLE_HASHING_CONCURRENCY="$(nproc)" USER_COUPLE_HASHING_QUEUE=1024 \
    "${bin}/user-couple" serve

accounts="${work}/accounts.json"
declare -A setup_secs=()

# chat_up NAME REPLICAS DATABASE_URL [VAR=VALUE...]: REPLICAS chat processes on one database, each
# behind a gateway of its own; sets chat_ports, gw_ports, server_pids (chat then gateway pids) and
# server_names. The first gateway signs the couples up if that is not done yet.
chat_up() {
    local name=$1 replicas=$2 db=$3 i chat_port gw_port started
    shift 3
    chat_ports=() gw_ports=() server_pids=() server_names=()
    log "[${name}] migrating chat's database"
    env CHAT_DATABASE_URL="${db}" "${bin}/chat" migrate >"${work}/chat-${name}-migrate.log" 2>&1 ||
        fail_with_log "chat migrate failed" "${work}/chat-${name}-migrate.log"
    for ((i = 1; i <= replicas; i++)); do
        read -r chat_port gw_port <<<"$(pick_ports 2)"
        log "[${name}] chat replica ${i} on ${chat_port}, its gateway on ${gw_port}"
        bench_start "chat-${name}-${i}" "http://127.0.0.1:${chat_port}/readyz" env CHAT_HOST=127.0.0.1 CHAT_PORT="${chat_port}" \
            CHAT_DATABASE_URL="${db}" CHAT_AUTO_MIGRATE=false CHAT_USER_COUPLE_URL="http://127.0.0.1:${uc_port}" "$@" \
            "${bin}/chat" serve
        bench_start "gateway-${name}-${i}" "http://127.0.0.1:${gw_port}/readyz" env GATEWAY_HOST=127.0.0.1 GATEWAY_PORT="${gw_port}" \
            GATEWAY_USER_COUPLE_URL="http://127.0.0.1:${uc_port}" GATEWAY_CHAT_URL="http://127.0.0.1:${chat_port}" \
            GATEWAY_REDIS_URL="${TEST_REDIS_URL}" GATEWAY_RATE_LIMIT_PER_SEC=1000000 GATEWAY_RATE_LIMIT_BURST=1000000 \
            "${bin}/gateway" serve
        chat_ports+=("${chat_port}")
        gw_ports+=("${gw_port}")
        server_pids+=("${bench_pid[chat-${name}-${i}]}" "${bench_pid[gateway-${name}-${i}]}")
        server_names+=("chat ${i}" "gateway ${i}")
    done
    if [[ ! -f ${accounts} ]]; then
        local couples=$(((sockets > small ? sockets : small) / 2))
        log "signing up and pairing ${couples} couples (set-up, not measured)"
        started=$(now_ms)
        "${load}" accounts --api "http://127.0.0.1:${gw_ports[0]}" --couples "${couples}" --out "${accounts}"
        setup_secs[accounts]=$(awk -v ms="$(($(now_ms) - started))" 'BEGIN { printf "%.0f", ms / 1000 }')
    fi
}

chat_down() {
    local name=$1 i
    for ((i = 1; i <= ${#chat_ports[@]}; i++)); do
        bench_stop "gateway-${name}-${i}"
        bench_stop "chat-${name}-${i}"
    done
}

# run_load NAME ARGS...: chat-load run with ARGS, its summary in ${work}/NAME.json, the servers'
# names beside it in ${work}/NAME.servers.
run_load() {
    local name=$1 pid
    shift
    local pids=()
    for pid in "${server_pids[@]}"; do pids+=(--server-pid "${pid}"); done
    printf '%s\n' "${server_names[@]}" >"${work}/${name}.servers"
    log "[${name}] $*"
    "${load}" run --label "${name}" --out "${work}/${name}.json" --secs "${secs}" "${pids[@]}" "$@" >/dev/null 2>"${work}/${name}.log" ||
        fail_with_log "chat-load ${name} failed" "${work}/${name}.log"
    grep '^chat-load' "${work}/${name}.log" | sed 's/^/    /' >&2 || true
}

# ours NAME SOCKETS RATE [GATEWAY URLS...]: our platform's rooms, through the gateways given.
ours() {
    local name=$1 n=$2 r=$3 port urls=()
    shift 3
    for port in "$@"; do urls+=(--url "ws://127.0.0.1:${port}/ws/chat/{room}/"); done
    run_load "${name}" --sockets "${n}" --rate "${r}" --grace-secs "${grace}" --rooms platform \
        --api "http://127.0.0.1:${gw_ports[0]}" --accounts "${accounts}" --identity bearer "${urls[@]}"
}

passes() { # summary json -> exit 0 when p99 <= target, nothing lost, no errors
    python3 - "$1" "${target_p99_ms}" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if d["latency"]["p99Ms"] <= float(sys.argv[2]) and d["lost"] == 0 and d["errors"] == 0 and d["sent"] > 0 else 1)
PY
}

# (a) and (d): SQLite, one replica; ours at the small size too, for the comparison.
chat_up sqlite 1 "sqlite:${work}/chat-sqlite.db"
ours sqlite "${sockets}" "${rate}" "${gw_ports[0]}"
ours "sqlite-small" "${small}" "${rate}" "${gw_ports[0]}"
sweep_best=""
for r in ${sweep_rates}; do
    ours "sweep-${r}" "${sockets}" "${r}" "${gw_ports[0]}"
    passes "${work}/sweep-${r}.json" || break
    sweep_best=${r}
done
chat_down sqlite

# (b) PostgreSQL, one replica.
chat_up postgres 1 "$(bench_database chat_single)"
ours postgres "${sockets}" "${rate}" "${gw_ports[0]}"
chat_down postgres

# (c) Two replicas on PostgreSQL + Redis, the partners of each room on different ones.
chat_up redis 2 "$(bench_database chat_scaled)" CHAT_REDIS_URL="${TEST_REDIS_URL}"
ours redis "${sockets}" "${rate}" "${gw_ports[0]}" "${gw_ports[1]}"
chat_down redis

# (e) The original, fresh for each size: its rooms made over its REST API beforehand, identity in
# its X-User-ID / X-Nickname headers, the text echoed back unchanged to the whole room.
original() {
    local name=$1 n=$2 port
    read -r port <<<"$(pick_ports 1)"
    log "[${name}] the original (daphne) on ${port}"
    (cd bench/original-chat && ORIGINAL_CHAT_DB="${work}/${name}.sqlite3" "${venv}/bin/python" manage.py migrate -v 0) \
        >"${work}/${name}-migrate.log" 2>&1 || fail_with_log "the original's migrate failed" "${work}/${name}-migrate.log"
    bench_start "${name}" "http://127.0.0.1:${port}/api/chat/rooms/" env -C bench/original-chat ORIGINAL_CHAT_DB="${work}/${name}.sqlite3" \
        "${venv}/bin/daphne" -b 127.0.0.1 -p "${port}" original_chat.asgi:application
    server_pids=("${bench_pid[${name}]}")
    server_names=("daphne")
    run_load "${name}" --sockets "${n}" --rate "${rate}" --grace-secs "${original_grace}" --rooms rest \
        --rooms-url "http://127.0.0.1:${port}/api/chat/rooms/" --identity headers --url "ws://127.0.0.1:${port}/ws/chat/{room}/" \
        --frame '{"type":"chat.message","message":"{message}"}' --match message
    bench_stop "${name}"
}
original original "${sockets}"
original original-small "${small}"

# ------------------------------------------------------------------------------------ report
report_env=(WORK="${work}" RESULTS="${results}" SOCKETS="${sockets}" SMALL="${small}" RATE="${rate}" SECS="${secs}"
    TARGET="${target_p99_ms}" SWEEP_RATES="${sweep_rates}" SWEEP_BEST="${sweep_best}" SETUP="${setup_secs[accounts]:-?}"
    ORIGINAL_GRACE="${original_grace}" DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)" CORES="$(nproc)"
    CPU="$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)")
env "${report_env[@]}" python3 - <<'PY'
import json, os
e = os.environ
work, results = e["WORK"], e["RESULTS"]
sockets, small, rate, secs = int(e["SOCKETS"]), int(e["SMALL"]), e["RATE"], e["SECS"]
target = float(e["TARGET"])
sweep_rates = e["SWEEP_RATES"].split()
sweep_best = e["SWEEP_BEST"]
setup = e["SETUP"]

def load(name):
    path = f"{work}/{name}.json"
    if not os.path.exists(path):
        return None
    d = json.load(open(path))
    names = open(f"{work}/{name}.servers").read().split("\n")
    for s, n in zip(d["servers"], names):
        s["name"] = n
    return d

def num(x):
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.3f}".rstrip("0").rstrip(".") if x else "0"

def ms(x):
    return f"{x:.3f}" if x < 100 else f"{x:,.0f}"

def met(d):
    ok = d["latency"]["p99Ms"] <= target and d["lost"] == 0 and d["errors"] == 0 and d["sent"] > 0
    return "yes" if ok else "**no**"

head = f"| run | sockets | rate per socket (msg/s) | sent (msg/s) | delivered (msg/s) | p50 (ms) | p99 (ms) | p99.9 (ms) | max (ms) | lost | duplicates | errors | p99 <= {target:g} ms, none lost |"
sep = "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
def row(label, d):
    l = d["latency"]
    return (f"| {label} | {d['connected']} of {d['sockets']} | {d['ratePerSocket']:g} | {num(d['sentPerSec'])} | {num(d['deliveredPerSec'])} | "
            f"{ms(l['p50Ms'])} | {ms(l['p99Ms'])} | {ms(l['p999Ms'])} | {ms(l['maxMs'])} | {d['lost']} | {d['duplicates']} | {d['errors']} | {met(d)} |")

def servers(label, d):
    return [f"| {label} | {s['name']} | {s['cpuPercent']:.0f} | {s['rssBeforeMib']:.1f} | {s['rssAfterMib']:.1f} | {s['rssPeakMib']:.1f} |" for s in d["servers"]]

runs = {n: load(n) for n in ["sqlite", "postgres", "redis", "sqlite-small", "original", "original-small"]}
sweep = [(r, load(f"sweep-{r}")) for r in sweep_rates]
sweep = [(r, d) for r, d in sweep if d]
out = []
p = out.append
p("# Chat delivery benchmark")
p("")
p(f"Generated by `make bench-chat` (scripts/bench-chat.sh) on {e['DATE']}, {e['CORES']} cores "
  f"({e['CPU']}), release builds, the load client (bench/chat-load) on the same machine. "
  f"{secs} s of sending per run.")
p("")
if sockets < 1000 or float(secs) < 10:
    p(f"**A smoke-scale run ({sockets} and {small} sockets, {secs} s each), to show the script works: not the benchmark's figures, "
      "which `make bench-chat` gives at its defaults (1,000 and 200 sockets, 10 s) on an otherwise idle machine.**")
    p("")
p(f"Each run: N sockets in N/2 couple rooms, the two partners of a room each sending {rate} message(s) a second (open loop, first "
  "sends spread over one period), timed from the send to the partner's receipt. Lost: sent but never received by the partner "
  "by the end of the grace period; errors: sockets that failed to open or ended early, failed sends, error frames, another "
  f"room's messages. The couples were signed up and paired once through the gateway (not measured: {setup} s, four Argon2id "
  "hashes a couple); each chat lists their default rooms. Target (quality.md): p99 at most 20 ms at 1,000 sockets, none lost.")
p("")
p(f"## Our chat at {sockets} sockets, {rate} message(s) a second each")
p("")
p("Through the gateway (JWT on the upgrade, then spliced bytes). `redis`: two replicas on PostgreSQL, each behind its own gateway, "
  "fanning out through Redis; each room's partners on different replicas, so every message crosses Redis.")
p("")
p(head); p(sep)
for n, label in [("sqlite", "sqlite: 1 replica, SQLite"), ("postgres", "postgres: 1 replica, PostgreSQL"), ("redis", "redis: 2 replicas, PostgreSQL + Redis")]:
    if runs[n]: p(row(label, runs[n]))
p("")
p("## Servers' CPU and memory over each run")
p("")
p("CPU over the sending window and the wait for stragglers (100% = one core); resident memory before the first send, after the last "
  "receipt, and the process's peak.")
p("")
p("| run | process | CPU (%) | resident before (MiB) | after (MiB) | peak (MiB) |")
p("|---|---|---|---|---|---|")
for n in ["sqlite", "postgres", "redis"] + [f"sweep-{r}" for r, _ in sweep] + ["original", "original-small"]:
    d = runs.get(n) or dict(sweep).get(n.removeprefix("sweep-"))
    if d: out.extend(servers(n, d))
p("")
p(f"## Rate sweep: sqlite, {sockets} sockets")
p("")
p(f"Rising rates per socket until p99 passes {target:g} ms or a message is lost (the sweep stops at the first such rate).")
p("")
p(head); p(sep)
for r, d in sweep:
    p(row(f"sweep {r}/s", d))
p("")
best = dict(sweep).get(sweep_best)
if best:
    p(f"Highest rate per socket keeping p99 under {target:g} ms with none lost: **{sweep_best} messages/s** "
      f"({num(best['deliveredPerSec'])} delivered/s in all).")
elif runs["sqlite"] and met(runs["sqlite"]) == "yes":
    p(f"No swept rate kept p99 under {target:g} ms; {rate} message(s) a second did (the table above).")
else:
    p(f"No rate kept p99 under {target:g} ms.")
p("")
p("## Against the original (Django 4 + Channels, daphne, in-memory channel layer, SQLite)")
p("")
p("bench/original-chat: rooms created over its REST API beforehand, identity in `X-User-ID`/`X-Nickname`, "
  "`{\"type\":\"chat.message\",\"message\":...}` broadcast to the whole room (sender included), nothing stored; matched on the "
  f"text. The same load; its grace period {e['ORIGINAL_GRACE']} s, since it queues. Ours here: sqlite through the gateway.")
p("")
p(head); p(sep)
for n, label in [("original", "original"), ("sqlite", "ours (sqlite)"), ("original-small", "original"), ("sqlite-small", "ours (sqlite)")]:
    if runs[n]: p(row(label, runs[n]))
p("")
o, u, os_, us = runs["original"], runs["sqlite"], runs["original-small"], runs["sqlite-small"]
if o and u and os_ and us:
    def ratio(a, b):
        return f"{a / b:.1f}x" if b else "-"
    cap = best["deliveredPerSec"] if best else u["deliveredPerSec"]
    cap_from = f"the sweep's {sweep_best}/s per socket" if best else f"{rate}/s per socket"
    p("| comparison | ours | original | ratio | target |")
    p("|---|---|---|---|---|")
    p(f"| delivered/s at {sockets} sockets, {rate}/s each (the same offered load) | {num(u['deliveredPerSec'])} | {num(o['deliveredPerSec'])} | {ratio(u['deliveredPerSec'], o['deliveredPerSec'])} | - |")
    p(f"| throughput: ours' highest delivered/s within the p99 target ({cap_from}) vs the original's at {sockets} sockets | {num(cap)} | {num(o['deliveredPerSec'])} | {ratio(cap, o['deliveredPerSec'])} | at least 10x |")
    p(f"| p99 at {sockets} sockets (ms) | {ms(u['latency']['p99Ms'])} | {ms(o['latency']['p99Ms'])} | 1/{o['latency']['p99Ms'] / max(u['latency']['p99Ms'], 1e-3):.1f} | at most 1/10 |")
    p(f"| p99 at {small} sockets (ms) | {ms(us['latency']['p99Ms'])} | {ms(os_['latency']['p99Ms'])} | 1/{os_['latency']['p99Ms'] / max(us['latency']['p99Ms'], 1e-3):.1f} | at most 1/10 |")
    p(f"| lost at {sockets} sockets | {u['lost']} | {o['lost']} | - | ours 0 |")
    p("")
    p("The original's p99 counts only what arrived: what it lost (a full channel drops) has no latency.")
open(results, "w").write("\n".join(out) + "\n")
PY

log "results written to ${results}"
cat "${results}"
