#!/usr/bin/env bash
# Start/stop the throwaway PostgreSQL, Redis and MongoDB wire-protocol servers the tests use.
#
#   scripts/test-services.sh start    fresh servers on free 127.0.0.1 ports,
#                                     writes $COUPLE_TEST_DIR/env
#   scripts/test-services.sh stop     stop them all, delete all their state
#   scripts/test-services.sh status   print whether each is running
#                                     (exit 0 only if all three are running)
#
# All state lives in $COUPLE_TEST_DIR (default: <repo>/.tmp/test-services).
# After `start`, load the connection URLs with:
#
#   . "$COUPLE_TEST_DIR/env"   # TEST_DATABASE_URL, TEST_REDIS_URL,
#                              # TEST_MONGO_WIRE_URL, and TEST_PG_BINDIR,
#                              # TEST_REDIS_SERVER, TEST_MONGO_WIRE_SERVER for
#                              # tests that start private servers
#
# MongoDB itself cannot be installed on these machines (not in Debian, PyPI or
# npm); the MongoDB tests use nx-27017, a MongoDB wire-protocol server over
# SQLite from PyPI, pinned and installed on first use into a virtual
# environment. TEST_MONGODB_URL, when you set it yourself, points the same
# tests at a real MongoDB as well.
#
# `start` always gives a clean slate: if servers from an earlier `start` are
# still running in the same directory they are stopped and their data
# deleted first (same as `stop`), so tests never see leftovers of a previous
# run. Running `start` twice is therefore safe, it just restarts.
#
# Nothing is ever killed by name: PostgreSQL is stopped with `pg_ctl stop`
# on its own data dir, Redis by the pid in its own pid file.
#
# Environment knobs:
#   COUPLE_TEST_DIR        state directory (see above)
#   COUPLE_TEST_TIMEOUT    seconds to wait for each server (default 30)
#   PG_BINDIR              PostgreSQL server bin dir (default: newest
#                          /usr/lib/postgresql/*/bin, else pg_config --bindir)
#   COUPLE_MONGO_VENV      the virtual environment with nx-27017 (default
#                          <repo>/.tmp/mongo-venv)
set -euo pipefail

LOG_NAME=test-services
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
state=${COUPLE_TEST_DIR:-${repo}/.tmp/test-services}
# Absolute path: it ends up in server configs and in the env file.
[[ ${state} == /* ]] || state="${PWD}/${state}"
timeout_s=${COUPLE_TEST_TIMEOUT:-30}

# The marker tells us a directory was created by this script; `stop` and
# `start` refuse to delete a directory that does not have it, so a mistyped
# COUPLE_TEST_DIR can never wipe unrelated files.
marker=.couple-test-services
pg_dir="${state}/pg"        # dir (or symlink, see pg_base) owned by the pg user
redis_dir="${state}/redis"
mongo_dir="${state}/mongo"
env_file="${state}/env"
mongo_venv=${COUPLE_MONGO_VENV:-${repo}/.tmp/mongo-venv}
nx_version=0.8.1

pg_superuser=couple


# ---------------------------------------------------------------- postgres

# PostgreSQL refuses to run as root, so as root we run its tools as the
# `postgres` system user (created by the Debian package). As a normal user
# they simply run as that user.
if [[ ${EUID} -eq 0 ]]; then
    pg_user=postgres
else
    pg_user=$(id -un)
fi

as_pg() {
    if [[ ${EUID} -ne 0 ]]; then
        "$@"
    elif command -v runuser >/dev/null 2>&1; then
        # cd /: the pg tools complain if they cannot access the cwd (/root).
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && su postgres -s /bin/sh -c "$(printf '%q ' "$@")")
    fi
}

pg_bindir() {
    if [[ -n ${PG_BINDIR:-} ]]; then
        printf '%s\n' "${PG_BINDIR}"
        return
    fi
    # Newest Debian server version (sort -V so 15 beats 9).
    local d best=""
    while IFS= read -r d; do
        [[ -x ${d}/initdb ]] && best=${d}
    done < <(compgen -G '/usr/lib/postgresql/*/bin' | sort -V)
    if [[ -z ${best} ]] && command -v pg_config >/dev/null 2>&1; then
        d=$(pg_config --bindir)
        [[ -x ${d}/initdb ]] && best=${d}
    fi
    [[ -n ${best} ]] || die "no PostgreSQL server binaries (initdb) found; run scripts/deps.sh"
    printf '%s\n' "${best}"
}

# Directory holding data/, sock/ and the server log, writable by the pg user.
# Normally ${state}/pg. If the pg user cannot reach ${state} (e.g. the repo
# is under /root, mode 0700) or the path is too long for a unix socket
# (~107 bytes), use a private dir under /tmp instead and leave a symlink at
# ${state}/pg so `stop` finds and deletes it.
pg_make_base() {
    mkdir -p "${pg_dir}"
    chown "${pg_user}:" "${pg_dir}"
    chmod 0700 "${pg_dir}"
    # 20 = length of "/sock/.s.PGSQL.65535"; the kernel limit is 107.
    if (( ${#pg_dir} + 20 <= 100 )) && as_pg test -w "${pg_dir}"; then
        return
    fi
    rmdir "${pg_dir}"
    local tmp
    tmp=$(mktemp -d /tmp/couple-test-pg.XXXXXXXX)
    chown "${pg_user}:" "${tmp}"
    ln -s "${tmp}" "${pg_dir}"
    log "postgres state in ${tmp} (${state} not usable by ${pg_user} or path too long)"
}

pg_real_dir() { readlink -f "${pg_dir}"; }

pg_pid() { head -n1 "${pg_dir}/data/postmaster.pid" 2>/dev/null || true; }

# Like `pg_ctl status`, but a crashed (zombie) or recycled pid from a stale
# postmaster.pid does not count as running.
pg_running() {
    local pid
    pid=$(pg_pid)
    pid_is "${pid}" postgres
}

pg_start() {
    local port=$1 bindir base
    bindir=$(pg_bindir)
    id "${pg_user}" >/dev/null 2>&1 || die "user ${pg_user} does not exist; run scripts/deps.sh"
    pg_make_base
    base=$(pg_real_dir)
    as_pg mkdir -p "${base}/sock"

    # The bootstrap superuser is `couple` directly (-U), so no createuser.
    # --no-sync: this cluster is disposable.
    if ! as_pg "${bindir}/initdb" -D "${base}/data" -U "${pg_superuser}" \
            -A trust -E UTF8 --locale=C --no-sync >"${state}/initdb.log" 2>&1; then
        tail -n 30 "${state}/initdb.log" >&2
        die "initdb failed (log: ${state}/initdb.log)"
    fi

    # Throwaway test cluster: durability off for speed, loopback only.
    local sockdir=${base}/sock
    cat >>"${base}/data/postgresql.conf" <<EOF

# --- added by scripts/test-services.sh (disposable test cluster) ---
listen_addresses = '127.0.0.1'
port = ${port}
unix_socket_directories = '${sockdir//\'/\'\'}'
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    # Trust is fine: only loopback and a private socket dir (mode 0700).
    cat >"${base}/data/pg_hba.conf" <<'EOF'
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 trust
host    all       all   127.0.0.1/32  trust
EOF

    if ! as_pg "${bindir}/pg_ctl" start -D "${base}/data" -l "${base}/postgres.log" \
            -w -t "${timeout_s}" >/dev/null; then
        fail_with_log "postgres did not start" "${base}/postgres.log"
    fi

    local i
    for ((i = 0; i < timeout_s * 5; i++)); do
        if "${bindir}/pg_isready" -q -h 127.0.0.1 -p "${port}" \
                -U "${pg_superuser}" -d postgres -t 1; then
            log "postgres running (pid $(pg_pid), 127.0.0.1:${port})"
            return
        fi
        sleep 0.2
    done
    fail_with_log "postgres not accepting connections on 127.0.0.1:${port} after ${timeout_s}s" \
        "${base}/postgres.log"
}

pg_stop() {
    [[ -e ${pg_dir} ]] || return 0
    if pg_running; then
        local bindir data pid
        bindir=$(pg_bindir)
        data="$(pg_real_dir)/data"
        pid=$(pg_pid)
        # fast = roll back open sessions and shut down cleanly; if even that
        # hangs, immediate (no checkpoint, fine since we delete the data).
        if ! as_pg "${bindir}/pg_ctl" stop -D "${data}" -m fast -w -t "${timeout_s}" >/dev/null \
                && pg_running; then
            as_pg "${bindir}/pg_ctl" stop -D "${data}" -m immediate -w -t "${timeout_s}" >/dev/null \
                || ! pg_running || die "could not stop postgres (pid ${pid})"
        fi
        log "postgres stopped (pid ${pid})"
    fi
}

# ------------------------------------------------------------------- redis

redis_pidfile="${redis_dir}/redis.pid"

redis_pid() {
    local pid
    pid=$(cat "${redis_pidfile}" 2>/dev/null || true)
    pid_is "${pid}" redis-server || return 1
    printf '%s\n' "${pid}"
}

redis_start() {
    local port=$1
    command -v redis-server >/dev/null 2>&1 || die "redis-server not found; run scripts/deps.sh"
    mkdir -p "${redis_dir}"
    # No persistence at all; --dir keeps any stray file inside the state dir.
    if ! redis-server --port "${port}" --bind 127.0.0.1 \
            --save "" --appendonly no \
            --dir "${redis_dir}" \
            --daemonize yes \
            --pidfile "${redis_pidfile}" \
            --logfile "${redis_dir}/redis.log" >/dev/null; then
        fail_with_log "redis-server did not start" "${redis_dir}/redis.log"
    fi

    local i
    for ((i = 0; i < timeout_s * 5; i++)); do
        if [[ "$(redis-cli -h 127.0.0.1 -p "${port}" ping 2>/dev/null || true)" == PONG ]] \
                && redis_pid >/dev/null; then
            log "redis running (pid $(redis_pid), 127.0.0.1:${port})"
            return
        fi
        sleep 0.2
    done
    fail_with_log "redis not answering PING on 127.0.0.1:${port} after ${timeout_s}s" \
        "${redis_dir}/redis.log"
}

redis_stop() {
    local pid
    pid=$(redis_pid) || return 0
    stop_pid redis "${pid}" redis-server "${timeout_s}"
}

# ------------------------------------------------- mongodb (wire protocol)

mongo_pidfile="${mongo_dir}/nx-27017.pid"
nx_bin="${mongo_venv}/bin/nx-27017"

mongo_install() {
    if [[ $("${mongo_venv}/bin/pip" show nx-27017 2>/dev/null | sed -n 's/^Version: //p') == "${nx_version}" ]]; then
        return
    fi
    log "preparing ${mongo_venv} (nx-27017 ${nx_version})"
    command -v python3 >/dev/null || die "python3 is required"
    python3 -m venv "${mongo_venv}" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    "${mongo_venv}/bin/pip" install --quiet --disable-pip-version-check "nx-27017==${nx_version}" \
        || die "pip install nx-27017==${nx_version} failed"
}

mongo_pid() {
    local pid
    pid=$(cat "${mongo_pidfile}" 2>/dev/null || true)
    pid_is "${pid}" nx-27017 || return 1
    printf '%s\n' "${pid}"
}

mongo_start() {
    local port=$1
    mongo_install
    mkdir -p "${mongo_dir}/data"
    # One SQLite file per logical database (--data-dir), so tests that each use a database
    # of their own do not share one file's lock.
    nohup "${nx_bin}" --host 127.0.0.1 -p "${port}" --data-dir "${mongo_dir}/data" \
        --log-file "${mongo_dir}/nx-27017.log" --pid-file "${mongo_dir}/unused.pid" \
        >"${mongo_dir}/stdout.log" 2>&1 </dev/null &
    printf '%s\n' "$!" >"${mongo_pidfile}"
    local i
    for ((i = 0; i < timeout_s * 5; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null && mongo_pid >/dev/null; then
            log "mongodb wire server (nx-27017) running (pid $(mongo_pid), 127.0.0.1:${port})"
            return
        fi
        mongo_pid >/dev/null || break
        sleep 0.2
    done
    fail_with_log "nx-27017 not accepting connections on 127.0.0.1:${port}" "${mongo_dir}/stdout.log"
}

mongo_stop() {
    local pid
    pid=$(mongo_pid) || return 0
    stop_pid nx-27017 "${pid}" nx-27017 "${timeout_s}"
}

# ----------------------------------------------------------------- helpers

# Stop the servers of ${state} and delete the /tmp directory PostgreSQL may use instead of
# ${state}/pg (see pg_make_base); state_teardown / state_stop / state_fresh (lib/common.sh)
# delete ${state} itself, and only a directory carrying our marker.
stop_servers() {
    pg_stop
    redis_stop
    mongo_stop
    local pg_tmp=""
    if [[ -L ${pg_dir} ]]; then
        pg_tmp=$(readlink "${pg_dir}")
    fi
    # Only ever delete our own /tmp fallback dir.
    if [[ ${pg_tmp} == /tmp/couple-test-pg.* ]]; then
        rm -rf -- "${pg_tmp}"
    fi
}

# -------------------------------------------------------------- subcommands

cmd_start() {
    state_fresh "${state}" "${marker}" stop_servers

    # If anything below fails, do not leave half-started servers behind.
    # The state dir (with logs) stays for inspection; the next start/stop
    # cleans it up.
    trap 'rc=$?; if ((rc != 0)); then pg_stop || true; redis_stop || true; mongo_stop || true; fi' EXIT

    local ports pg_port redis_port mongo_port
    ports=$(pick_ports 3)
    read -r pg_port redis_port mongo_port <<<"${ports}"
    printf '%s\n' "${pg_port}" >"${state}/pg.port"
    printf '%s\n' "${redis_port}" >"${state}/redis.port"
    printf '%s\n' "${mongo_port}" >"${state}/mongo.port"

    pg_start "${pg_port}"
    redis_start "${redis_port}"
    mongo_start "${mongo_port}"

    # Write atomically so a concurrent reader never sees half a file.
    cat >"${env_file}.tmp" <<EOF
# Written by scripts/test-services.sh start; source this file.
export TEST_DATABASE_URL=postgres://${pg_superuser}@127.0.0.1:${pg_port}/postgres
export TEST_REDIS_URL=redis://127.0.0.1:${redis_port}
export TEST_MONGO_WIRE_URL=mongodb://127.0.0.1:${mongo_port}
# For tests that run (and stop) servers of their own: the same binaries.
export TEST_PG_BINDIR=$(printf '%q' "$(pg_bindir)")
export TEST_REDIS_SERVER=$(printf '%q' "$(command -v redis-server)")
export TEST_MONGO_WIRE_SERVER=$(printf '%q' "${nx_bin}")
EOF
    mv "${env_file}.tmp" "${env_file}"
    trap - EXIT
    printf '%s\n' "${env_file}"
}

cmd_stop() {
    state_stop "${state}" "${marker}" stop_servers
}

cmd_status() {
    local ok=0 port
    if pg_running; then
        port=$(cat "${state}/pg.port" 2>/dev/null || echo '?')
        log "postgres: running (pid $(pg_pid), 127.0.0.1:${port})"
    else
        log "postgres: not running"
        ok=1
    fi
    local pid
    if pid=$(redis_pid); then
        port=$(cat "${state}/redis.port" 2>/dev/null || echo '?')
        log "redis: running (pid ${pid}, 127.0.0.1:${port})"
    else
        log "redis: not running"
        ok=1
    fi
    if pid=$(mongo_pid); then
        port=$(cat "${state}/mongo.port" 2>/dev/null || echo '?')
        log "mongodb wire server: running (pid ${pid}, 127.0.0.1:${port})"
    else
        log "mongodb wire server: not running"
        ok=1
    fi
    if [[ -f ${env_file} ]]; then
        log "env: ${env_file}"
    fi
    return "${ok}"
}

case ${1:-} in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *)
        printf 'usage: %s start|stop|status\n' "$0" >&2
        exit 2
        ;;
esac
