#!/usr/bin/env bash
# Checks of charts/couple-operator through Helm's Go SDK (PyPI package helm-python-sdk): lint,
# values schema, rendered templates; with COUPLE_TEST_KUBECONFIG set, also install, upgrade and
# uninstall against that API server, and run the real operator binary under the chart's
# ServiceAccount (through an API server restart when the server is the local control plane of
# scripts/control-plane/cluster.sh). See scripts/chart-test.py.
#
#   scripts/chart-test.sh                     lint and render only
#   COUPLE_CP_DIR=/tmp/chart-cp scripts/control-plane/cluster.sh start
#   . /tmp/chart-cp/env && scripts/chart-test.sh        also against the local control plane
#
# The virtual environment lives in .tmp/helm-venv (override with COUPLE_HELM_VENV); it is
# created, with helm-python-sdk and PyYAML, when missing.
#
# With COUPLE_TEST_KUBECONFIG set it builds the operator first (`cargo build -p couple-operator`,
# debug, into CARGO_TARGET_DIR or target/; a no-op when it is up to date). COUPLE_OPERATOR_BIN
# names an already-built binary instead and skips the build.
set -euo pipefail

LOG_NAME=chart-test
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

repo=${COUPLE_REPO}
venv=${COUPLE_HELM_VENV:-${repo}/.tmp/helm-venv}

if ! "${venv}/bin/python" -c 'import helm_python, yaml' 2>/dev/null; then
    log "preparing ${venv} (helm-python-sdk is a 75 MB wheel)"
    command -v python3 >/dev/null || die "python3 is required"
    python3 -m venv "${venv}" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    "${venv}/bin/pip" install --quiet --disable-pip-version-check helm-python-sdk PyYAML
fi

args=()
if [[ -n ${COUPLE_TEST_KUBECONFIG:-} ]]; then
    operator_bin=${COUPLE_OPERATOR_BIN:-}
    if [[ -z ${operator_bin} ]]; then
        command -v cargo >/dev/null || die "cargo is required to build the operator (or set COUPLE_OPERATOR_BIN)"
        log "building the operator (cargo build -p couple-operator)"
        (cd "${repo}" && cargo build --quiet -p couple-operator) || die "cargo build -p couple-operator failed"
        built="$(cargo_target_dir)/debug/couple-operator"
        # A private copy: another checkout building into a shared CARGO_TARGET_DIR relinks
        # target/debug/couple-operator, which must not swap the binary under this test.
        operator_bin="${repo}/.tmp/chart-test/couple-operator"
        mkdir -p "${operator_bin%/*}"
        cp -f "${built}" "${operator_bin}.tmp" && mv -f "${operator_bin}.tmp" "${operator_bin}"
    fi
    [[ -x ${operator_bin} ]] || die "operator binary ${operator_bin} is missing or not executable"
    args+=(--operator-bin "${operator_bin}")
fi

exec "${venv}/bin/python" "${repo}/scripts/chart-test.py" "${args[@]}" "$@"
