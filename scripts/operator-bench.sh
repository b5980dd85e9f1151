#!/usr/bin/env bash
# `make bench-operator`: builds the release operator, starts a local control plane of its own,
# runs scripts/operator-bench.py against it and stops it. Writes bench/results/operator.md.
set -euo pipefail

LOG_NAME=operator-bench
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "${COUPLE_REPO}"
cargo_on_path

export COUPLE_CP_DIR="${PWD}/.tmp/bench-control-plane"
cargo build --release -p couple-operator
trap 'scripts/control-plane/cluster.sh stop >/dev/null 2>&1 || true' EXIT
scripts/control-plane/cluster.sh start >/dev/null
# shellcheck source=/dev/null
source "${COUPLE_CP_DIR}/env"
bin="$(cargo_target_dir)/release/couple-operator"
log "running the benchmark"
python3 scripts/operator-bench.py "${bin}"
