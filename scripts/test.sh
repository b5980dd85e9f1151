#!/usr/bin/env bash
# `make test` (and so CI, through .ci/run): every check, as timed stages. Each stage prints
# "==> <stage>" when it starts and its duration when it ends; at the end, or as soon as a stage
# fails, a summary of every stage's seconds and the total (lib/common.sh: stage). Exits non-zero
# on the first failing stage.
#
#   deps                  system packages (scripts/deps.sh)
#   fmt-check, clippy     make fmt-check, make clippy
#   test services start   PostgreSQL and Redis on free ports (scripts/test-services.sh)
#   control plane start   etcd, kube-apiserver, kube-controller-manager (scripts/control-plane/cluster.sh),
#                         twice: the shared one, and a solo one for the one test that deletes the
#                         CoupleApp CRD (COUPLE_TEST_KUBECONFIG_SOLO; it would take every other test's
#                         CoupleApps with it)
#   cargo tests           make test-only against both (COUPLE_REQUIRE_K8S=1 and COUPLE_REQUIRE_SERVERS=1:
#                         a test whose server is missing fails instead of skipping)
#   chart test            scripts/chart-test.sh against the control plane
#   smoke, fuzz           scripts/smoke.sh, scripts/fuzz.sh (after the servers above are stopped)
set -euo pipefail

LOG_NAME="make test"
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "${COUPLE_REPO}"
cargo_on_path

make_cmd=("${MAKE:-make}" --no-print-directory)
test_env=.tmp/test-services/env
k8s_env=.tmp/control-plane/env
solo_dir=.tmp/control-plane-solo

# Whatever happens, do not leave the test servers running.
stop_servers() {
    scripts/test-services.sh stop >/dev/null
    scripts/control-plane/cluster.sh stop >/dev/null
    COUPLE_CP_DIR=${solo_dir} scripts/control-plane/cluster.sh stop >/dev/null
}
trap 'stop_servers 2>/dev/null || true' EXIT

# with_test_env CMD...: CMD with the URLs of the test servers and the kubeconfig.
with_test_env() {
    (
        # shellcheck source=/dev/null
        source "${test_env}"
        # shellcheck source=/dev/null
        source "${k8s_env}"
        export COUPLE_TEST_KUBECONFIG_SOLO="${PWD}/${solo_dir}/kubeconfig"
        exec "$@"
    )
}

stage deps scripts/deps.sh
stage fmt-check "${make_cmd[@]}" fmt-check
stage clippy "${make_cmd[@]}" clippy
stage "test services start" scripts/test-services.sh start
start_control_planes() {
    scripts/control-plane/cluster.sh start && COUPLE_CP_DIR=${solo_dir} scripts/control-plane/cluster.sh start
}
stage "control plane start" start_control_planes
stage "cargo tests" with_test_env env COUPLE_REQUIRE_K8S=1 COUPLE_REQUIRE_SERVERS=1 "${make_cmd[@]}" test-only
stage "chart test" with_test_env scripts/chart-test.sh
stop_servers
stage smoke scripts/smoke.sh
stage fuzz scripts/fuzz.sh
stage_summary
