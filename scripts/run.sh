#!/usr/bin/env bash
# Runs the platform locally on the embedded defaults: every service on its own port on
# 127.0.0.1, SQLite files under .data/, the in-process cache instead of Redis, and the gateway
# in front on :8080. Ctrl-C stops everything.
#
# Environment:
#   COUPLE_DATA_DIR   where databases and generated secrets live (default .data)
#   COUPLE_PROFILE    cargo profile to build: dev (default, quick to build) or release
#   GATEWAY_PORT      the gateway's port (default 8080)
# Any other COUPLE_*, GATEWAY_* or USER_COUPLE_* variable is passed through (see README).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo_bin="${HOME:-/root}/.cargo/bin"
[[ -d ${cargo_bin} && ":${PATH}:" != *":${cargo_bin}:"* ]] && export PATH="${cargo_bin}:${PATH}"

data_dir=${COUPLE_DATA_DIR:-.data}
profile=${COUPLE_PROFILE:-dev}
mkdir -p "${data_dir}"
data_dir=$(cd "${data_dir}" && pwd)

# Secrets are generated once per data directory so sessions survive a restart.
secrets="${data_dir}/secrets.env"
if [[ ! -f ${secrets} ]]; then
    umask 077
    {
        printf 'COUPLE_JWT_SECRET=%s\n' "$(head -c 48 /dev/urandom | base64 | tr -d '\n=+/')"
        printf 'COUPLE_INTERNAL_TOKEN=%s\n' "$(head -c 32 /dev/urandom | base64 | tr -d '\n=+/')"
    } >"${secrets}"
fi
set -a
# shellcheck source=/dev/null
source "${secrets}"
set +a

export COUPLE_LOG_FORMAT=${COUPLE_LOG_FORMAT:-text}
export RUST_LOG=${RUST_LOG:-info}
export USER_COUPLE_HOST=${USER_COUPLE_HOST:-127.0.0.1}
export USER_COUPLE_PORT=${USER_COUPLE_PORT:-8081}
export USER_COUPLE_DATABASE_URL=${USER_COUPLE_DATABASE_URL:-sqlite:${data_dir}/user-couple.db}
export GATEWAY_HOST=${GATEWAY_HOST:-127.0.0.1}
export GATEWAY_PORT=${GATEWAY_PORT:-8080}
export GATEWAY_USER_COUPLE_URL=${GATEWAY_USER_COUPLE_URL:-http://127.0.0.1:${USER_COUPLE_PORT}}

# The services, in start order; the gateway comes last.
services=(user-couple gateway)

echo "==> building (${profile} profile): ${services[*]}"
build_args=()
for service in "${services[@]}"; do build_args+=(--bin "${service}"); done
cargo build --profile "${profile}" "${build_args[@]}"
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
bin_dir="${target_dir}/$([[ ${profile} == dev ]] && echo debug || echo "${profile}")"

pids=()
stop() {
    trap - INT TERM EXIT
    echo
    echo "==> stopping"
    for pid in "${pids[@]}"; do kill -TERM "${pid}" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap stop INT TERM EXIT

wait_ready() {
    local name=$1 url=$2
    for _ in $(seq 1 100); do
        if curl -fsS -o /dev/null "${url}" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "error: ${name} did not become ready at ${url}" >&2
    return 1
}

port_of() {
    case $1 in
        user-couple) echo "${USER_COUPLE_PORT}" ;;
        gateway) echo "${GATEWAY_PORT}" ;;
    esac
}

for service in "${services[@]}"; do
    "${bin_dir}/${service}" serve &
    pids+=($!)
    wait_ready "${service}" "http://127.0.0.1:$(port_of "${service}")/readyz"
done

cat <<MSG

==> the platform is running: http://127.0.0.1:${GATEWAY_PORT}
    API document:  http://127.0.0.1:${GATEWAY_PORT}/openapi.json
    data:          ${data_dir}
    Try:  curl -s -X POST http://127.0.0.1:${GATEWAY_PORT}/api/users/signup -H 'content-type: application/json' \\
            -d '{"email":"mina@example.com","password":"password-123","name":"Mina","gender":"F","birth":"1998-04-12"}'
    Ctrl-C stops everything.

MSG
wait -n "${pids[@]}" || true
echo "a service exited; stopping the others" >&2
