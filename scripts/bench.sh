#!/usr/bin/env bash
# Benchmarks, compared in one run as ratios (never as timing assertions):
#
#  1. Gateway overhead: an authenticated GET /api/users/me at fixed request rates, straight to
#     user-couple (on PostgreSQL), through the gateway (which verifies the JWT and checks
#     revocation), and through nginx as a plain reverse proxy to the same upstream. Then each
#     target flat out, for throughput.
#  2. Login under attack: readers' p99 alone, then while a flood of logins (Argon2id) runs.
#
# Writes bench/results/gateway.md (a table per scenario) and keeps oha's raw JSON under
# .tmp/bench/. Knobs: BENCH_SECS (per run, default 10), BENCH_RATES (default "500 1000 2000"),
# BENCH_CONNECTIONS (default 32). Then runs scripts/bench-questions.sh (the daily question,
# bench/results/questions.md), which runs scripts/bench-schedules.sh (schedules, the calendar and
# recommendations, bench/results/schedules.md).
set -euo pipefail

LOG_NAME=bench
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
root=${COUPLE_REPO}
cd "${root}"
cargo_on_path

rates=${BENCH_RATES:-"500 1000 2000"}
work="${root}/.tmp/bench"
results="${root}/bench/results/gateway.md"
mkdir -p "$(dirname "${results}")"
# shellcheck source=scripts/bench-lib.sh
source "${root}/scripts/bench-lib.sh"

bench_prepare gateway user-couple
bench_services
database_url=$(bench_database bench)

read -r uc_port gw_port gwl_port nginx_port <<<"$(pick_ports 4)"
declare -A idle_rss

log "migrating, then starting user-couple (PostgreSQL + Redis) on ${uc_port}"
USER_COUPLE_DATABASE_URL=${database_url} "${bin}/user-couple" migrate >"${work}/migrate.log" 2>&1
bench_start user-couple "http://127.0.0.1:${uc_port}/readyz" env USER_COUPLE_HOST=127.0.0.1 USER_COUPLE_PORT="${uc_port}" \
    USER_COUPLE_DATABASE_URL="${database_url}" USER_COUPLE_AUTO_MIGRATE=false USER_COUPLE_REDIS_URL="${TEST_REDIS_URL}" \
    USER_COUPLE_LOGIN_FAILURES_PER_CLIENT=1000000 "${bin}/user-couple" serve

log "starting the gateway on ${gw_port}"
bench_start gateway "http://127.0.0.1:${gw_port}/readyz" env GATEWAY_HOST=127.0.0.1 GATEWAY_PORT="${gw_port}" \
    GATEWAY_USER_COUPLE_URL="http://127.0.0.1:${uc_port}" GATEWAY_REDIS_URL="${TEST_REDIS_URL}" \
    GATEWAY_RATE_LIMIT_PER_SEC=1000000 GATEWAY_RATE_LIMIT_BURST=1000000 "${bin}/gateway" serve
sleep 1
idle_rss[user-couple]=$(rss_kib "${bench_pid[user-couple]}")
idle_rss[gateway]=$(rss_kib "${bench_pid[gateway]}")

log "starting a second gateway without Redis (in-process rate limits) on ${gwl_port}"
bench_start gateway-local "http://127.0.0.1:${gwl_port}/healthz" env GATEWAY_HOST=127.0.0.1 GATEWAY_PORT="${gwl_port}" \
    GATEWAY_USER_COUPLE_URL="http://127.0.0.1:${uc_port}" GATEWAY_RATE_LIMIT_PER_SEC=1000000 GATEWAY_RATE_LIMIT_BURST=1000000 \
    "${bin}/gateway" serve

log "starting nginx on ${nginx_port} (plain reverse proxy to the same upstream)"
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
mkdir -p "${work}/nginx"
cat >"${work}/nginx.conf" <<NGINX
worker_processes auto;
pid ${work}/nginx.pid;
error_log ${work}/nginx-error.log warn;
daemon off;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path ${work}/nginx;
    proxy_temp_path ${work}/nginx;
    upstream user_couple { server 127.0.0.1:${uc_port}; keepalive 64; }
    server {
        listen 127.0.0.1:${nginx_port};
        location / {
            proxy_pass http://user_couple;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Request-ID \$request_id;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        }
    }
}
NGINX
# daemon off: the process started is nginx's master, which takes its workers along when it stops.
bench_start nginx "http://127.0.0.1:${nginx_port}/healthz" "${nginx_bin}" -c "${work}/nginx.conf" -p "${work}/nginx"

log "creating a user"
user_body='{"email":"bench@example.com","password":"bench-password-1","name":"Bench","gender":"F","birth":"1990-01-01"}'
curl -fsS -o /dev/null -X POST "http://127.0.0.1:${uc_port}/api/users/signup" -H 'content-type: application/json' -d "${user_body}"
token=$(curl -fsS -X POST "http://127.0.0.1:${uc_port}/api/users/login" -H 'content-type: application/json' \
    -d '{"email":"bench@example.com","password":"bench-password-1"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["accessToken"])')
for i in $(seq 1 20); do
    curl -fsS -o /dev/null -X POST "http://127.0.0.1:${uc_port}/api/users/signup" -H 'content-type: application/json' \
        -d "{\"email\":\"flood${i}@example.com\",\"password\":\"bench-password-1\",\"name\":\"F\",\"gender\":\"M\",\"birth\":\"1990-01-01\"}"
done

declare -A url=(
    [direct]="http://127.0.0.1:${uc_port}/api/users/me"
    [gateway]="http://127.0.0.1:${gw_port}/api/users/me"
    [gateway-local]="http://127.0.0.1:${gwl_port}/api/users/me"
    [nginx]="http://127.0.0.1:${nginx_port}/api/users/me"
)

# Warm every path (connection pools, caches) before measuring.
for target in direct gateway gateway-local nginx; do
    oha --no-tui -n 2000 -c 8 -H "authorization: Bearer ${token}" "${url[$target]}" >/dev/null
done

{
    echo "# Benchmark results"
    echo
    echo "Generated by \`make bench\` on $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, ${secs} s per run, oha with latency correction,"
    echo "load generator on the same machine. user-couple on PostgreSQL with Redis; release builds."
    echo
    echo "## 1. Gateway overhead: authenticated GET /api/users/me"
    echo
    echo "| rate (req/s) | target | p50 (ms) | p99 (ms) | throughput (req/s) | errors |"
    echo "|---|---|---|---|---|---|"
} >"${results}"

declare -A p50 p99
for rate in ${rates}; do
    for target in direct gateway gateway-local nginx; do
        log "rate ${rate}/s via ${target}"
        run_oha "fixed-${rate}-${target}" -q "${rate}" -c "${conns}" --latency-correction -H "authorization: Bearer ${token}" "${url[$target]}"
        read -r a b c d < <(summarise "${work}/fixed-${rate}-${target}.json")
        p50[${rate}-${target}]=${a}
        p99[${rate}-${target}]=${b}
        echo "| ${rate} | ${target} | ${a} | ${b} | ${c} | ${d} |" >>"${results}"
    done
done

{
    echo
    echo "Gateway overhead against going direct (target: at most +0.3 ms p50, +1 ms p99):"
    echo
    echo "| rate (req/s) | via | p50 added (ms) | p99 added (ms) |"
    echo "|---|---|---|---|"
    for rate in ${rates}; do
        for via in gateway gateway-local nginx; do
            python3 -c "
v50,v99,d50,d99=map(float,'${p50[${rate}-${via}]} ${p99[${rate}-${via}]} ${p50[${rate}-direct]} ${p99[${rate}-direct]}'.split())
print(f'| ${rate} | ${via} | {v50-d50:+.3f} | {v99-d99:+.3f} |')"
        done
    done
    echo
    echo "Throughput flat out (${conns} connections):"
    echo
    echo "| target | throughput (req/s) | p50 (ms) | p99 (ms) | errors |"
    echo "|---|---|---|---|---|"
} >>"${results}"

declare -A max
for target in direct gateway gateway-local nginx; do
    log "flat out via ${target}"
    run_oha "max-${target}" -c "${conns}" -H "authorization: Bearer ${token}" "${url[$target]}"
    read -r a b c d < <(summarise "${work}/max-${target}.json")
    max[${target}]=${c}
    echo "| ${target} | ${c} | ${a} | ${b} | ${d} |" >>"${results}"
done
{
    python3 -c "print(f'\nGateway (Redis rate limits) throughput / nginx throughput: {${max[gateway]}/max(${max[nginx]},1):.2f} (target: at least 1.00)')"
    python3 -c "print(f'Gateway (in-process rate limits) throughput / nginx throughput: {${max[gateway-local]}/max(${max[nginx]},1):.2f}')"
    echo
    # shellcheck disable=SC2016 # backquotes are Markdown here
    echo '`gateway` shares rate limits through Redis (one Redis round trip a request); `gateway-local` keeps them in'
    echo 'process (a single replica, or Redis down). Both verify the JWT and check revocation (cached under a second).'
} >>"${results}"

log "login flood: readers alone"
reader_rate=200
run_oha "readers-quiet" -q "${reader_rate}" -c 16 --latency-correction -H "authorization: Bearer ${token}" "${url[gateway]}"
read -r q50 q99 qrps qerr < <(summarise "${work}/readers-quiet.json")

log "login flood: readers during a flood of logins"
flood_body='{"email":"flood1@example.com","password":"bench-password-1"}'
oha --no-tui --output-format json -z "$((secs + 2))s" -c 64 -m POST -H 'content-type: application/json' -d "${flood_body}" \
    "http://127.0.0.1:${gw_port}/api/users/login" >"${work}/flood.json" &
flood_pid=$!
sleep 1
run_oha "readers-flood" -q "${reader_rate}" -c 16 --latency-correction -H "authorization: Bearer ${token}" "${url[gateway]}"
wait "${flood_pid}" || true
read -r f50 f99 frps ferr < <(summarise "${work}/readers-flood.json")
flood_codes=$(python3 -c "import json; d=json.load(open('${work}/flood.json')); print(', '.join(f'{k}: {v}' for k,v in sorted(d.get('statusCodeDistribution',{}).items())))")
flood_rps=$(python3 -c "import json; print(round(json.load(open('${work}/flood.json'))['summary'].get('requestsPerSec') or 0))")

{
    echo
    echo "## 2. Login under attack: readers' GET /api/users/me at ${reader_rate} req/s through the gateway"
    echo
    echo "| phase | p50 (ms) | p99 (ms) | throughput (req/s) | errors |"
    echo "|---|---|---|---|---|"
    echo "| quiet | ${q50} | ${q99} | ${qrps} | ${qerr} |"
    echo "| during a login flood (64 connections) | ${f50} | ${f99} | ${frps} | ${ferr} |"
    echo
    python3 -c "print(f'Readers p99 during the flood / quiet p99: {${f99}/max(${q99},0.001):.2f} (target: at most 2.00)')"
    echo
    echo "The flood itself: ${flood_rps} logins/s answered; status codes: ${flood_codes} (503 = hashing queue full, shed on purpose)."
} >>"${results}"

{
    echo
    echo "## 3. Start-up and footprint"
    echo
    echo "| service | process start to /readyz (ms, migrations excluded) | resident memory idle (MiB) | after the runs above (MiB) |"
    echo "|---|---|---|---|"
    for service in user-couple gateway; do
        awk -v s="${service}" -v t="${startup_ms[${service}]}" -v idle="${idle_rss[${service}]}" -v after="$(rss_kib "${bench_pid[${service}]}")" \
            'BEGIN { printf "| %s | %s | %.1f | %.1f |\n", s, t, idle / 1024, after / 1024 }'
    done
    echo
    echo "Targets: at most 1 s to ready, at most 20 MiB idle."
} >>"${results}"

log "results written to ${results}"
cat "${results}"

# The daily-question benchmark: its own servers, so stop these first.
_bench_cleanup
trap - EXIT
exec "${root}/scripts/bench-questions.sh"
