#!/usr/bin/env bash
# Checks of charts/couple-operator through Helm's Go SDK (PyPI package helm-python-sdk): lint,
# values schema, rendered templates; with COUPLE_TEST_KUBECONFIG set, also install, upgrade and
# uninstall against that API server. See scripts/chart-test.py.
#
#   scripts/chart-test.sh                     lint and render only
#   COUPLE_CP_DIR=/tmp/chart-cp scripts/control-plane/cluster.sh start
#   . /tmp/chart-cp/env && scripts/chart-test.sh        also against the local control plane
#
# The virtual environment lives in .tmp/helm-venv (override with COUPLE_HELM_VENV); it is
# created, with helm-python-sdk and PyYAML, when missing.
set -euo pipefail

LOG_NAME=chart-test
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${COUPLE_HELM_VENV:-${repo}/.tmp/helm-venv}

if ! "${venv}/bin/python" -c 'import helm_python, yaml' 2>/dev/null; then
    log "preparing ${venv} (helm-python-sdk is a 75 MB wheel)"
    command -v python3 >/dev/null || die "python3 is required"
    python3 -m venv "${venv}" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    "${venv}/bin/pip" install --quiet --disable-pip-version-check helm-python-sdk PyYAML
fi

exec "${venv}/bin/python" "${repo}/scripts/chart-test.py" "$@"
