#!/usr/bin/env bash
# Runs the platform locally on the embedded defaults: every service on its own port on
# 127.0.0.1, SQLite files under .data/, the in-process cache instead of Redis, and the gateway
# in front on :8080. Ctrl-C stops everything.
#
# The services come from the service registry (couple-registry: `cargo run -p couple-registry --
# table`): every registry entry with a binary in the workspace, each started after the services
# it calls and waited for on /readyz, the gateway last. Each gets the variables the operator
# sets in a cluster, unless they are set already:
#   <PREFIX>HOST=127.0.0.1, <PREFIX>PORT=<registry port>,
#   <PREFIX>DATABASE_URL=sqlite:<data dir>/<name>.db   (services that use PostgreSQL in a cluster)
#   <PREFIX><PEER>_URL=http://127.0.0.1:<the peer's port>   (every service it calls or erases in)
#   USER_COUPLE_ERASURE_SERVICES=<the started services that hold user or couple data>
#
# Environment:
#   COUPLE_DATA_DIR   where databases and generated secrets live (default .data)
#   COUPLE_PROFILE    cargo profile to build: dev (default, quick to build) or release
#   GATEWAY_PORT      the gateway's port (default 8080); <PREFIX>PORT likewise for each service
# Any other COUPLE_* variable or one with a service's prefix is passed through (see README).
set -euo pipefail

LOG_NAME=run
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "${COUPLE_REPO}"
cargo_on_path

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

# The services, in start order (the gateway last), and their environment.
cargo_metadata_load
registry_load
# (The registry's JSON is for this script; the services need not inherit it.)
export -n COUPLE_REGISTRY_JSON
mapfile -t entries < <(registry_binaries)
((${#entries[@]} > 0)) || die "no service of the registry has a binary in the workspace"
services=()
declare -A port_var
for entry in "${entries[@]}"; do
    IFS=$'\t' read -r name port prefix <<<"${entry}"
    services+=("${name}")
    port_var[${name}]=${prefix}PORT
    host_var=${prefix}HOST
    export "${host_var}=${!host_var:-127.0.0.1}"
    export "${prefix}PORT=${!port_var[${name}]:-${port}}"
    if [[ $(registry_postgres "${name}") != no ]]; then
        db_var=${prefix}DATABASE_URL
        export "${db_var}=${!db_var:-sqlite:${data_dir}/${name}.db}"
    fi
done
gateway_port_var=${port_var[gateway]:-}
[[ -n ${gateway_port_var} ]] || die "the registry has no gateway binary"
gateway_port=${!gateway_port_var}
# Peer URLs once every port is known: a peer's port is its <PREFIX>PORT, or its registry port
# when it has no binary yet.
for name in "${services[@]}"; do
    while IFS=$'\t' read -r var _ peer_port peer_prefix; do
        peer_port_var=${peer_prefix}PORT
        export "${var}=${!var:-http://127.0.0.1:${!peer_port_var:-${peer_port}}}"
    done < <(registry_peers "${name}")
    # Deleted accounts are erased in the services that run here, and nowhere else (set but
    # empty turns the fan-out off).
    while IFS=$'\t' read -r var targets; do
        export "${var}=${!var-${targets}}"
    done < <(registry_erasure "${name}" "${services[@]}")
done
# Links schedule-meeting hands out (calendar feeds) point at this gateway.
export SCHEDULE_MEETING_PUBLIC_BASE_URL=${SCHEDULE_MEETING_PUBLIC_BASE_URL:-http://127.0.0.1:${gateway_port}}

echo "==> building (${profile} profile): ${services[*]}"
build_args=()
for service in "${services[@]}"; do build_args+=(--bin "${service}"); done
cargo build --profile "${profile}" "${build_args[@]}"
bin_dir="$(cargo_target_dir)/$([[ ${profile} == dev ]] && echo debug || echo "${profile}")"

pids=()
stop() {
    trap - INT TERM EXIT
    echo
    echo "==> stopping"
    for pid in "${pids[@]}"; do kill -TERM "${pid}" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap stop INT TERM EXIT

listening=()
for service in "${services[@]}"; do
    port=${!port_var[${service}]}
    "${bin_dir}/${service}" serve &
    pids+=($!)
    wait_ready "${service}" "http://127.0.0.1:${port}/readyz" 30 "$!" || exit 1
    listening+=("${service} :${port}")
done
listening_list=$(printf '%s, ' "${listening[@]}")

cat <<MSG

==> the platform is running: http://127.0.0.1:${gateway_port}
    API document:  http://127.0.0.1:${gateway_port}/openapi.json
    services:      ${listening_list%, }
    data:          ${data_dir}
    Try:  curl -s -X POST http://127.0.0.1:${gateway_port}/api/users/signup -H 'content-type: application/json' \\
            -d '{"email":"mina@example.com","password":"password-123","name":"Mina","gender":"F","birth":"1998-04-12"}'
    Ctrl-C stops everything.

MSG
wait -n "${pids[@]}" || true
echo "a service exited; stopping the others" >&2
