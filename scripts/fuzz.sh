#!/usr/bin/env bash
# The bad-input bar of the quality spec (/work/shared/spec/quality.md): schemathesis over the
# gateway's merged OpenAPI document finds no 5xx and no response that breaks the document, over at
# least 1,000 generated requests; and a body over the limit gets 413 through the gateway.
#
# Starts the platform as `make run` does (scripts/run.sh: SQLite, in-process cache, embedded
# defaults) on free ports (one for every service of the registry that has a binary) with a fresh
# data directory under .tmp/fuzz/, then:
#   1. signs up and logs in a user, and sends bodies one byte over the limit (with a length and
#      chunked, to a public and to an authenticated route): each must get 413;
#   2. runs schemathesis against http://<gateway>/openapi.json, every operation, with the checks
#      not_a_server_error, status_code_conformance, content_type_conformance,
#      response_schema_conformance and ignored_auth (a secured operation without a token, or with
#      a broken one, must get 401). Authenticated operations carry a valid token of a real user
#      (scripts/fuzz_hooks.py): couple operations run as a member of a couple, admin-only ones
#      (creating questions and tags) as an admin (FUZZ_ADMIN_EMAIL, made admin through
#      USER_COUPLE_ADMIN_EMAILS), the rest as a user without one; half of the answers name a real
#      question, and half of the chat requests the couple's real room and messages. Operations
#      that end a session (logout, password change, account deletion, break-up) are fuzzed too:
#      after one succeeds the next request gets a freshly signed-up user, so no request runs with
#      a token the run itself revoked.
# schedule-meeting gets a KMA key and scripts/kma-standin.py as KMA, so its weather cards answer.
# Fails, printing schemathesis's report and the services' log tail, on any finding, when fewer
# than FUZZ_MIN_REQUESTS requests were sent, or when no answer, admin creation, planned date,
# weather card or chat message succeeded.
#
# The gateway's rate limit and the per-client login lockout are raised for the run: the fuzzer
# sends a few thousand requests back to back from one address, and a 429 would only hide what the
# request behind it would have found. Both have their own tests.
#
# Environment:
#   FUZZ_MAX_EXAMPLES  test cases per operation and phase (default 100)
#   FUZZ_SEED          the generator's seed (default 20261125), so a CI failure replays locally
#   FUZZ_MIN_REQUESTS  fewest requests the run must send (default 1000)
#   COUPLE_FUZZ_VENV   the virtual environment with schemathesis (default .tmp/fuzz-venv; created
#                      with pip when missing or on another version)
# Reports (JSON and JUnit) and the services' log are kept in .tmp/fuzz/last/.
set -euo pipefail

LOG_NAME=fuzz
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

repo=${COUPLE_REPO}
cd "${repo}"
cargo_on_path

schemathesis_version=4.32.5
venv=${COUPLE_FUZZ_VENV:-${repo}/.tmp/fuzz-venv}
max_examples=${FUZZ_MAX_EXAMPLES:-100}
seed=${FUZZ_SEED:-20261125}
min_requests=${FUZZ_MIN_REQUESTS:-1000}
body_limit=${COUPLE_BODY_LIMIT_BYTES:-1048576}
admin_email=fuzz-admin@example.com

if [[ $("${venv}/bin/schemathesis" --version 2>/dev/null) != *"${schemathesis_version}"* ]]; then
    log "preparing ${venv} (schemathesis ${schemathesis_version})"
    command -v python3 >/dev/null || die "python3 is required"
    python3 -m venv "${venv}" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    "${venv}/bin/pip" install --quiet --disable-pip-version-check "schemathesis==${schemathesis_version}" ||
        die "pip install schemathesis==${schemathesis_version} failed"
fi

mkdir -p .tmp/fuzz
work=$(mktemp -d "${repo}/.tmp/fuzz/run.XXXXXX")
run_log="${work}/services.log"
kma_pid=
cleanup() {
    platform_stop
    [[ -z ${kma_pid} ]] || kill "${kma_pid}" 2>/dev/null || true
    # Keep the last run's reports and log for a look after a failure; drop its data.
    rm -rf "${work}/data" .tmp/fuzz/last
    mv "${work}" .tmp/fuzz/last 2>/dev/null || true
}
trap cleanup EXIT

# run.sh builds first: up to 10 minutes on a fresh clone.
# schedule-meeting's weather cards answer 503 without a KMA key, by design: the run gives it one
# and a local stand-in for KMA (no outside network here), so the cards are fuzzed past it.
kma_key="fuzz-kma-$(head -c 12 /dev/urandom | base64 | tr -d '=+/')"
python3 scripts/kma-standin.py --key "${kma_key}" --port-file "${work}/kma.port" &
kma_pid=$!
for _ in $(seq 1 50); do [[ -s ${work}/kma.port ]] && break; sleep 0.1; done
[[ -s ${work}/kma.port ]] || die "the KMA stand-in (scripts/kma-standin.py) did not start"

platform_start "${run_log}" 600 COUPLE_DATA_DIR="${work}/data" COUPLE_LOG_FORMAT=json \
    SCHEDULE_MEETING_WEATHER_API_KEY="${kma_key}" SCHEDULE_MEETING_WEATHER_BASE_URL="http://127.0.0.1:$(cat "${work}/kma.port")/1360000" \
    GATEWAY_RATE_LIMIT_PER_SEC=1000000 GATEWAY_RATE_LIMIT_BURST=1000000 USER_COUPLE_LOGIN_FAILURES_PER_CLIENT=1000000 \
    USER_COUPLE_ADMIN_EMAILS="${admin_email}" ||
    fail_with_log "the platform did not start" "${run_log}"
api=${platform_api}

# 1. Bodies over the limit.
json='content-type: application/json'
status=$(curl -s -o "${work}/signup.json" -w '%{http_code}' -X POST "${api}/api/users/signup" -H "${json}" \
    -d '{"email":"fuzz-413@example.com","password":"password-123","name":"Fuzz","gender":"F","birth":"1998-04-12"}')
[[ ${status} == 201 ]] || fail_with_log "signup answered ${status}: $(cat "${work}/signup.json")" "${run_log}"
token=$(curl -fsS -X POST "${api}/api/users/login" -H "${json}" -d '{"email":"fuzz-413@example.com","password":"password-123"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["accessToken"])') || fail_with_log "login failed" "${run_log}"
# A JSON string one byte over the limit, so nothing but its size is wrong with it.
python3 -c 'import sys; n = int(sys.argv[1]) + 1; sys.stdout.write("\"" + "a" * (n - 2) + "\"")' "${body_limit}" >"${work}/big.json"
oversized() { # METHOD PATH [curl args...]: the status of an oversized body, and the error code it came with
    local method=$1 path=$2
    shift 2
    curl -s -o "${work}/big-response.json" -w '%{http_code}' -X "${method}" "${api}${path}" -H "${json}" \
        --data-binary "@${work}/big.json" "$@"
}
for chunked in no yes; do
    extra=()
    [[ ${chunked} == yes ]] && extra=(-H 'transfer-encoding: chunked')
    for target in "POST /api/users/signup" "PUT /api/users/me"; do
        status=$(oversized "${target% *}" "${target#* }" -H "authorization: Bearer ${token}" "${extra[@]}")
        if [[ ${status} != 413 ]] || ! grep -q '"PAYLOAD_TOO_LARGE"' "${work}/big-response.json"; then
            fail_with_log "${target} with a body of $((body_limit + 1)) bytes (chunked: ${chunked}) answered ${status}: $(head -c 300 "${work}/big-response.json"), not 413" "${run_log}"
        fi
    done
done
log "bodies one byte over the ${body_limit}-byte limit get 413 (with a length and chunked, public and authenticated routes)"

# 2. Schemathesis. One worker, so the seed reproduces the run. No --max-time: with it the fuzzing
# phase repeats until the budget is spent; the number of examples bounds the run instead (and
# `timeout` a hang).
checks=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,ignored_auth
log "schemathesis ${schemathesis_version} against ${api}/openapi.json (checks ${checks}; ${max_examples} examples per operation and phase, seed ${seed})"
started=${SECONDS}
st_status=0
(
    cd "${work}"
    FUZZ_API="${api}" FUZZ_COUNT_FILE="${work}/requests" FUZZ_ADMIN_EMAIL="${admin_email}" PYTHONPATH="${repo}/scripts" SCHEMATHESIS_HOOKS=fuzz_hooks \
        timeout 600 "${venv}/bin/schemathesis" run "${api}/openapi.json" \
        --checks "${checks}" --phases examples,coverage,fuzzing \
        --max-examples "${max_examples}" --seed "${seed}" --workers 1 --generation-database none \
        --request-timeout 10 \
        --report json,junit --report-dir "${work}/report" --report-json-path "${work}/report/report.json" \
        --report-junit-path "${work}/report/junit.xml"
) >"${work}/schemathesis.out" 2>&1 || st_status=$?
elapsed=$((SECONDS - started))
read -r requests users answered admin_created planned forecasts chatted <"${work}/requests" 2>/dev/null || requests=0
operations=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["operations"]["tested"])' "${work}/report/report.json" 2>/dev/null || echo '?')

if ((st_status != 0)); then
    cat "${work}/schemathesis.out" >&2
    fail_with_log "schemathesis found problems (exit ${st_status}) in ${requests} requests; reports in .tmp/fuzz/last/report" "${run_log}"
fi
if ((requests < min_requests)); then
    tail -n 40 "${work}/schemathesis.out" >&2
    fail_with_log "schemathesis sent only ${requests} requests, fewer than ${min_requests}" "${run_log}"
fi
if ((${answered:-0} == 0 || ${admin_created:-0} == 0 || ${planned:-0} == 0 || ${forecasts:-0} == 0 || ${chatted:-0} == 0)); then
    tail -n 40 "${work}/schemathesis.out" >&2
    fail_with_log "no answer (${answered:-0}), admin creation (${admin_created:-0}), planned date (${planned:-0}), weather card (${forecasts:-0}) or chat message (${chatted:-0}) succeeded: the hooks' real question ids, admin token, place ids, Seoul point or chat room, or the KMA stand-in, are not used" "${run_log}"
fi
log "schemathesis: ${requests} requests to ${operations} operations (${users:-0} fuzz users; ${answered} answers, ${admin_created} admin creations, ${planned} planned dates, ${forecasts} weather cards and ${chatted} chat messages succeeded) in ${elapsed} s: no 5xx, every response as documented"
