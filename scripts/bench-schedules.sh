#!/usr/bin/env bash
# The schedule-meeting benchmark (`make bench` runs it after bench-questions.sh; it also runs
# alone), each figure next to its alternative in the same run:
#
#   1. GET /api/schedules?limit=50 (a couple's 50 schedules) at fixed rates, through the gateway
#      and straight to schedule-meeting, on PostgreSQL (quality.md: p99 at most 10 ms at
#      1,000 requests/s through the gateway).
#   2. GET /api/schedules/calendar (the month view: schedules, a planned date, both birthdays
#      and the anniversaries from user-couple) at 500/s, through the gateway and straight.
#   3. POST /api/meetings/recommend: one recommendation over the whole places catalogue, both
#      partners' vectors read from question-answer, at a low fixed rate straight to the service
#      (quality.md: p99 at most 50 ms), and the same request for a couple without vectors (the
#      engine alone, no peer call) to show what the peer calls cost.
#
# bench-load (scripts/bench-load.mjs) sends every request, open loop with latency from the due
# time, cycling through every partner's token. Couples are signed up and paired first, each
# given 50 schedules, a planned date and trait vectors (not measured).
#
# Writes bench/results/schedules.md; raw results under .tmp/bench-schedules/. Knobs: BENCH_SECS
# (per run, default 10), BENCH_SM_RATES (default "500 1000"), BENCH_CONNECTIONS (default 32),
# BENCH_SM_COUPLES (default 20).
set -euo pipefail

LOG_NAME=bench-schedules
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
root=${COUPLE_REPO}
cd "${root}"

rates=${BENCH_SM_RATES:-"500 1000"}
couples=${BENCH_SM_COUPLES:-20}
list_rate=1000
list_p99_ms=10
calendar_rate=500
recommend_rate=20
recommend_p99_ms=50
work="${root}/.tmp/bench-schedules"
results="${root}/bench/results/schedules.md"
mkdir -p "$(dirname "${results}")"
# shellcheck source=scripts/bench-lib.sh
source "${root}/scripts/bench-lib.sh"


bench_prepare gateway user-couple question-answer schedule-meeting
bench_services
export COUPLE_ACCESS_TOKEN_TTL_SECS=3600

read -r uc_port qa_port sm_port gw_port <<<"$(pick_ports 4)"
uc_db=$(bench_database sm_users)
qa_db=$(bench_database sm_questions)
sm_db=$(bench_database sm_schedules)

log "migrating, then starting user-couple, question-answer and schedule-meeting (PostgreSQL)"
USER_COUPLE_DATABASE_URL=${uc_db} "${bin}/user-couple" migrate >"${work}/uc-migrate.log" 2>&1
QUESTION_ANSWER_DATABASE_URL=${qa_db} "${bin}/question-answer" migrate >"${work}/qa-migrate.log" 2>&1
SCHEDULE_MEETING_DATABASE_URL=${sm_db} "${bin}/schedule-meeting" migrate >"${work}/sm-migrate.log" 2>&1 ||
    fail_with_log "schedule-meeting migrate failed" "${work}/sm-migrate.log"
bench_start user-couple "http://127.0.0.1:${uc_port}/readyz" env USER_COUPLE_HOST=127.0.0.1 USER_COUPLE_PORT="${uc_port}" \
    USER_COUPLE_DATABASE_URL="${uc_db}" USER_COUPLE_AUTO_MIGRATE=false USER_COUPLE_REDIS_URL="${TEST_REDIS_URL}" \
    USER_COUPLE_LOGIN_FAILURES_PER_CLIENT=1000000 "${bin}/user-couple" serve
bench_start question-answer "http://127.0.0.1:${qa_port}/readyz" env QUESTION_ANSWER_HOST=127.0.0.1 \
    QUESTION_ANSWER_PORT="${qa_port}" QUESTION_ANSWER_DATABASE_URL="${qa_db}" QUESTION_ANSWER_AUTO_MIGRATE=false \
    "${bin}/question-answer" serve
bench_start schedule-meeting "http://127.0.0.1:${sm_port}/readyz" env SCHEDULE_MEETING_HOST=127.0.0.1 \
    SCHEDULE_MEETING_PORT="${sm_port}" SCHEDULE_MEETING_DATABASE_URL="${sm_db}" SCHEDULE_MEETING_AUTO_MIGRATE=false \
    SCHEDULE_MEETING_USER_COUPLE_URL="http://127.0.0.1:${uc_port}" SCHEDULE_MEETING_QUESTION_ANSWER_URL="http://127.0.0.1:${qa_port}" \
    "${bin}/schedule-meeting" serve
sleep 1
sm_idle=$(rss_kib "${bench_pid[schedule-meeting]}")
bench_start gateway "http://127.0.0.1:${gw_port}/readyz" env GATEWAY_HOST=127.0.0.1 GATEWAY_PORT="${gw_port}" \
    GATEWAY_USER_COUPLE_URL="http://127.0.0.1:${uc_port}" GATEWAY_QUESTION_ANSWER_URL="http://127.0.0.1:${qa_port}" \
    GATEWAY_SCHEDULE_MEETING_URL="http://127.0.0.1:${sm_port}" GATEWAY_REDIS_URL="${TEST_REDIS_URL}" \
    GATEWAY_RATE_LIMIT_PER_SEC=1000000 GATEWAY_RATE_LIMIT_BURST=1000000 "${bin}/gateway" serve
api="http://127.0.0.1:${gw_port}"
direct="http://127.0.0.1:${sm_port}"

tokens="${work}/tokens.json"
log "signing up and pairing ${couples} couples"
load setup --api "${api}" --couples "${couples}" --out "${tokens}"
# One more couple that never answers: recommendations without vectors.
load setup --api "${api}" --couples 1 --out "${work}/plain-tokens.json"

month=$(TZ=Asia/Seoul date +%Y-%m)
log "giving each couple 50 schedules in ${month}, a planned date and both partners trait vectors"
python3 - "${api}" "${tokens}" "${month}" <<'PY'
import json, random, sys, urllib.request
from concurrent.futures import ThreadPoolExecutor

api, tokens, month = sys.argv[1], json.load(open(sys.argv[2])), sys.argv[3]
rng = random.Random(7)

def call(method, path, token, body):
    req = urllib.request.Request(api + path, data=json.dumps(body).encode(), method=method,
                                 headers={"authorization": f"Bearer {token}", "content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)

places = json.load(urllib.request.urlopen(urllib.request.Request(
    api + "/api/places?limit=3&q=seoul", headers={"authorization": f"Bearer {tokens[0]}"})))["data"]
if not places:
    places = json.load(urllib.request.urlopen(urllib.request.Request(
        api + "/api/places?limit=3", headers={"authorization": f"Bearer {tokens[0]}"})))["data"]

def couple(i):
    a, b = tokens[2 * i], tokens[2 * i + 1]
    for k in range(50):
        day = 1 + k % 28
        call("POST", "/api/schedules", a if k % 2 else b,
             {"name": f"Schedule {k}", "message": "bench", "dateTime": f"{month}-{day:02d}T{k % 24:02d}:00:00Z"})
    call("POST", "/api/meetings", a, {"name": "Bench date", "date": f"{month}-15", "startTime": "13:00", "endTime": "19:00",
                                      "places": [p["id"] for p in places], "keywords": ["야경"]})
    for token in (a, b):
        call("PUT", "/api/user-vectors/my-vector", token,
             {"vectors": {f"vec{n}": round(rng.uniform(-1, 1), 2) for n in range(1, 51)}})

with ThreadPoolExecutor(8) as pool:
    list(pool.map(couple, range(len(tokens) // 2)))
PY

list_rows=()
run_row() { # label, url, method, rate, expect, [body file] -> a row
    local label=$1 url=$2 method=$3 rate=$4 expect=$5 body=${6:-} name a b c d lag
    name=$(tr -c 'a-z0-9' '-' <<<"${label}-${rate}")
    local args=(--url "${url}" --method "${method}" --rate "${rate}" --secs "${secs}" --connections "${conns}"
        --tokens "${TOKENS:-${tokens}}" --expect "${expect}" --out "${work}/${name}.json")
    [[ -z ${body} ]] || args+=(--body "${body}")
    read -r a b c d lag < <(load run "${args[@]}")
    printf '%s|%s|%s|%s|%s|%s|%s\n' "${label}" "${rate}" "${a}" "${b}" "${c}" "${d}" "${lag}"
}

log "warming up"
load run --url "${api}/api/schedules?limit=50" --method GET --rate 200 --secs 2 --connections "${conns}" --tokens "${tokens}" \
    --expect 200 --out "${work}/warm.json" >/dev/null

for rate in ${rates}; do
    log "GET /api/schedules?limit=50 at ${rate}/s, through the gateway, then straight to the service"
    list_rows+=("$(run_row "schedules via gateway" "${api}/api/schedules?limit=50" GET "${rate}" 200)")
    list_rows+=("$(run_row "schedules direct" "${direct}/api/schedules?limit=50" GET "${rate}" 200)")
done
y=${month%-*}
m=$((10#${month#*-}))
# Warm: each couple's members and start date are then in schedule-meeting's one-minute cache, as
# they are for a couple in use (a cold entry costs one call to user-couple per request that
# misses it meanwhile).
load run --url "${api}/api/schedules/calendar?year=${y}&month=${m}" --method GET --rate 100 --secs 2 --connections "${conns}" \
    --tokens "${tokens}" --expect 200 --out "${work}/calendar-warm.json" >/dev/null
log "GET the month calendar at ${calendar_rate}/s, through the gateway, then straight"
list_rows+=("$(run_row "calendar via gateway" "${api}/api/schedules/calendar?year=${y}&month=${m}" GET "${calendar_rate}" 200)")
list_rows+=("$(run_row "calendar direct" "${direct}/api/schedules/calendar?year=${y}&month=${m}" GET "${calendar_rate}" 200)")

body="${work}/recommend.json"
printf '{"date":"%s-20","startTime":"12:00","endTime":"21:00","keywords":["야경","카페"]}\n' "${month}" >"${body}"
log "POST /api/meetings/recommend at ${recommend_rate}/s straight to the service, with and without vectors"
list_rows+=("$(run_row "recommend, vectors from question-answer" "${direct}/api/meetings/recommend" POST "${recommend_rate}" 200 "${body}")")
list_rows+=("$(TOKENS="${work}/plain-tokens.json" run_row "recommend, no vectors" "${direct}/api/meetings/recommend" POST "${recommend_rate}" 200 "${body}")")
sm_after=$(rss_kib "${bench_pid[schedule-meeting]}")
places=$(psql -qAt "${sm_db}" -c 'SELECT count(*) FROM places')

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
{
    echo "# Schedule-meeting benchmark"
    echo
    echo "Generated by \`make bench\` (scripts/bench-schedules.sh) on $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, ${secs} s per run,"
    echo "load generator on the same machine; release builds, every service on PostgreSQL, the gateway with Redis."
    echo "${couples} couples, each with 50 schedules this month, a planned date and both partners' trait vectors;"
    echo "${places} places in the catalogue. bench-load (scripts/bench-load.mjs): open loop, ${conns} connections, latency"
    echo "from each request's hand-over, every partner's token in turn."
    echo
    echo "| request | rate (req/s) | p50 (ms) | p99 (ms) | throughput (req/s) | errors | send lag p99 (ms) |"
    echo "|---|---|---|---|---|---|---|"
    for row in "${list_rows[@]}"; do
        IFS='|' read -r label rate a b c d lag <<<"${row}"
        echo "| ${label} | ${rate} | ${a} | ${b} | ${c} | ${d} | ${lag} |"
    done
    echo
    verdict() { # label prefix, rate, p99 target
        local ok=no row label rate b d
        for row in "${list_rows[@]}"; do
            IFS='|' read -r label rate _ b _ d _ <<<"${row}"
            [[ ${label} == "$1" && ${rate} == "$2" ]] || continue
            ok=$(awk -v p="${b}" -v t="$3" -v e="${d}" 'BEGIN { print (p <= t && e == 0) ? "yes" : "no" }')
        done
        echo "${ok}"
    }
    echo "Targets (quality.md), judged through the gateway where it is in the path:"
    echo
    echo "- a couple's 50 schedules at ${list_rate}/s, p99 at most ${list_p99_ms} ms, no errors: **$(verdict "schedules via gateway" "${list_rate}" "${list_p99_ms}")**"
    echo "- one recommendation over the whole catalogue, p99 at most ${recommend_p99_ms} ms: **$(verdict "recommend, vectors from question-answer" "${recommend_rate}" "${recommend_p99_ms}")**"
    echo
    echo "schedule-meeting's resident memory: $(mib "${sm_idle}") MiB idle, $(mib "${sm_after}") MiB after the runs; start to /readyz"
    echo "${startup_ms[schedule-meeting]} ms (migrations excluded; the catalogue upsert included)."
} >"${results}"

log "results written to ${results}"
cat "${results}"
