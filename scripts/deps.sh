#!/usr/bin/env bash
# Install the system packages that the tests and benchmarks need.
#
# Idempotent: apt-get only runs when something is actually missing, so a
# second run is a cheap no-op. Safe for CI (root, no stdin).
#
# Installs:
#   postgresql     server binaries (initdb/pg_ctl); tests run their own
#                  throwaway cluster via scripts/test-services.sh
#   redis-server   redis-server + redis-cli (redis-tools), same idea
#   nginx-light    only used by the benchmarks
#   wrk            HTTP load generator for the benchmarks
#   pkg-config     build helper some -sys crates probe for
#   make           the CI entry point runs `make test`
#   cargo-nextest  optional, via `cargo install` when COUPLE_DEPS_NEXTEST=1
#
# libssl-dev is deliberately not installed: the project uses rustls.
set -euo pipefail

LOG_NAME=deps
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

export DEBIAN_FRONTEND=noninteractive

# True if a PostgreSQL server (initdb) from the Debian packages is present.
have_pg_server() {
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}

# Debian's python3 has no ensurepip without python3-venv: `python3 -m venv` fails.
have_python_venv() {
    python3 -c 'import ensurepip, venv' >/dev/null 2>&1
}

have_nginx() {
    command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]]
}

# Each entry: "<package to install>|<check function or command name>".
wanted=(
    "postgresql|have_pg_server"
    "redis-server|redis-server"
    "redis-tools|redis-cli"
    "nginx-light|have_nginx"
    "wrk|wrk"
    "pkg-config|pkg-config"
    "make|make"
    "python3-venv|have_python_venv"
)

missing=()
for entry in "${wanted[@]}"; do
    pkg=${entry%%|*}
    check=${entry#*|}
    if declare -F "${check}" >/dev/null; then
        "${check}" && continue
    else
        { command -v "${check}" >/dev/null 2>&1 || pkg_installed "${pkg}"; } && continue
    fi
    missing+=("${pkg}")
done

if ((${#missing[@]} > 0)); then
    log "missing: ${missing[*]}"

    # Keep the package postinst scripts from starting the system services
    # (postgresql on 5432, redis on 6379, nginx on 80): tests and benchmarks
    # start their own instances on free ports, so those daemons would only
    # waste memory or collide with something. We only add a policy-rc.d if
    # none exists, and always remove the one we added.
    policy=/usr/sbin/policy-rc.d
    added_policy=0
    cleanup_policy() {
        if ((added_policy)); then
            as_root rm -f "${policy}"
        fi
    }
    trap cleanup_policy EXIT
    # Turn Ctrl-C / kill into a normal exit so the EXIT trap still runs.
    trap 'exit 130' INT
    trap 'exit 143' TERM
    if [[ ! -e ${policy} ]]; then
        printf '#!/bin/sh\n# temporary, added by scripts/deps.sh\nexit 101\n' \
            | as_root tee "${policy}" >/dev/null
        as_root chmod 0755 "${policy}"
        added_policy=1
    fi

    # Wait for a concurrent apt/dpkg (e.g. unattended-upgrades on a fresh VM)
    # instead of failing on the lock. Keep existing config files on upgrade.
    apt_opts=(
        -o DPkg::Lock::Timeout=600
        -o Dpkg::Options::=--force-confdef
        -o Dpkg::Options::=--force-confold
    )
    as_root apt-get "${apt_opts[@]}" update -q </dev/null
    as_root apt-get "${apt_opts[@]}" install -y -q --no-install-recommends \
        "${missing[@]}" </dev/null

    cleanup_policy
    added_policy=0
    trap - EXIT INT TERM

    for pkg in "${missing[@]}"; do
        log "installed ${pkg}"
    done
else
    log "system packages already installed"
fi

# cargo-nextest is optional: `make test` uses it when present and falls back to `cargo test`.
# Building it is a multi-minute compile, so it is only installed on request.
cargo_on_path
if [[ ${COUPLE_DEPS_NEXTEST:-0} == 1 ]] && ! cargo nextest --version >/dev/null 2>&1; then
    command -v cargo >/dev/null 2>&1 || die "cargo not found (install the Rust toolchain with rustup first)"
    cargo install cargo-nextest --locked </dev/null
    log "installed cargo-nextest"
fi
