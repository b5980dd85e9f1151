#!/usr/bin/env bash
# Smoke test of the README's first command: runs `scripts/run.sh` (what `make run` does) on free
# ports with a throwaway data directory, walks a newcomer's first steps through the gateway with
# curl, and stops it. Fails if any step does.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

data_dir=$(mktemp -d)
gateway_port=$(free_port)
log="${data_dir}/run.log"
COUPLE_DATA_DIR="${data_dir}" GATEWAY_PORT="${gateway_port}" USER_COUPLE_PORT="$(free_port)" COUPLE_LOG_FORMAT=json \
    setsid scripts/run.sh >"${log}" 2>&1 &
run_pid=$!
cleanup() {
    kill -TERM -- "-${run_pid}" 2>/dev/null || true
    wait "${run_pid}" 2>/dev/null || true
    rm -rf "${data_dir}"
}
trap cleanup EXIT

fail() {
    echo "smoke: FAILED: $*" >&2
    tail -n 40 "${log}" >&2 || true
    exit 1
}

api="http://127.0.0.1:${gateway_port}"
for _ in $(seq 1 600); do
    grep -q "the platform is running" "${log}" 2>/dev/null && break
    kill -0 "${run_pid}" 2>/dev/null || fail "scripts/run.sh exited early"
    sleep 0.5
done
grep -q "the platform is running" "${log}" || fail "the platform did not start"

json='content-type: application/json'
status=$(curl -s -o "${data_dir}/signup.json" -w '%{http_code}' -X POST "${api}/api/users/signup" -H "${json}" \
    -d '{"email":"smoke@example.com","password":"password-123","name":"Smoke","gender":"F","birth":"1998-04-12"}')
[[ ${status} == 201 ]] || fail "signup answered ${status}: $(cat "${data_dir}/signup.json")"
token=$(curl -fsS -X POST "${api}/api/users/login" -H "${json}" -d '{"email":"smoke@example.com","password":"password-123"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["accessToken"])') || fail "login"
curl -fsS "${api}/api/users/me" -H "authorization: Bearer ${token}" | grep -q '"smoke@example.com"' || fail "GET /api/users/me"
curl -fsS "${api}/openapi.json" | grep -q '/api/users/signup' || fail "the merged OpenAPI document lacks user-couple's paths"
[[ $(curl -s -o /dev/null -w '%{http_code}' "${api}/api/users/me") == 401 ]] || fail "an unauthenticated request was not refused"
echo "smoke: make run works (signup, login, me, openapi through the gateway)"
