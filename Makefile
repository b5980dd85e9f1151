# The couple platform's entry points. `make help` lists them.
#
#   make run     run the platform locally on the embedded defaults (SQLite, in-process cache)
#   make test    everything CI checks: formatting, lints, and all tests against real
#                PostgreSQL and Redis started on free ports for the run

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

CARGO ?= cargo
K8S_ENV := .tmp/control-plane/env

.PHONY: help run build test test-only smoke fuzz lint fmt fmt-check clippy services-up services-down bench bench-chat bench-operator k8s-build k8s-up k8s-down k8s-operator k8s-node-up k8s-node-down k8s-node-status k8s-node-check kind-up kind-image kind-status kind-down crds clean-data

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

run: ## Run the platform locally (gateway on :8080) on SQLite with no external servers
	@scripts/run.sh

build: ## Build every binary (debug)
	$(CARGO) build --workspace --bins

test: ## Format check, clippy, every test against real PostgreSQL, Redis and a Kubernetes API server, the chart, smoke, fuzz (timed stages)
	@scripts/test.sh

test-only: ## Run the tests only (expects TEST_DATABASE_URL, TEST_REDIS_URL, COUPLE_TEST_KUBECONFIG and COUPLE_TEST_KUBECONFIG_SOLO: services-up, k8s-up)
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --workspace --all-features --no-fail-fast; \
	else \
		$(CARGO) test --workspace --all-features --no-fail-fast; \
	fi

smoke: ## Start the platform as `make run` does and walk signup, login and me through the gateway
	@scripts/smoke.sh

fuzz: ## Schemathesis over the gateway's OpenAPI document (no 5xx, responses as documented, >= 1,000 requests) and 413 over the body limit
	@scripts/fuzz.sh

lint: fmt-check clippy ## Formatting and clippy

fmt: ## Format the code
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings

services-up: ## Start test PostgreSQL and Redis; then `source .tmp/test-services/env`
	@scripts/deps.sh
	@scripts/test-services.sh start

services-down: ## Stop them
	@scripts/test-services.sh stop

bench: ## Benchmarks: gateway vs nginx vs direct, login flood, daily question (answers on PostgreSQL and MongoDB), schedules, calendar and recommendations; writes bench/results/
	@scripts/deps.sh
	@scripts/bench.sh

bench-chat: ## Chat benchmark: 1,000 sockets on SQLite, PostgreSQL, two replicas through Redis, a rate sweep, and the original Django Channels chat; writes bench/results/chat.md
	@scripts/deps.sh
	@scripts/bench-chat.sh

bench-operator: ## Operator benchmark: 1 and 100 CoupleApps on a local API server; writes bench/results/operator.md
	@scripts/deps.sh
	@scripts/operator-bench.sh

k8s-build: ## Build kube-apiserver and kube-controller-manager 1.20.2 once per machine (cached in ~/.cache)
	@scripts/control-plane/build.sh

k8s-up: ## Start a local Kubernetes control plane; then `source .tmp/control-plane/env`
	@scripts/control-plane/cluster.sh start

k8s-operator: ## Run the operator (CRD included) against the local control plane, started if not running; Ctrl-C stops it
	@scripts/control-plane/cluster.sh status >/dev/null 2>&1 || scripts/control-plane/cluster.sh start >/dev/null
	@source $(K8S_ENV); \
		echo "operator on $$KUBECONFIG; in another shell: source $(K8S_ENV) && kubectl create ns couple && kubectl apply -f examples/minimal.yaml"; \
		$(CARGO) run -p couple-operator -- run --install-crd --leader-election false --metrics-addr 127.0.0.1:9443 --log-format text

k8s-down: ## Stop it and delete its state
	@scripts/control-plane/cluster.sh stop

k8s-node-up: ## A real node beside the control plane (root, one per machine; see scripts/node/README.md); then `source .tmp/control-plane/env`
	@scripts/node/node.sh up

k8s-node-down: ## Stop the node (leaving the machine as it was) and the control plane
	@scripts/node/node.sh down
	@scripts/control-plane/cluster.sh stop

k8s-node-status: ## What of the node and the control plane runs
	@scripts/control-plane/cluster.sh status; scripts/node/node.sh status

k8s-node-check: ## Prove the node (pods, Service DNS, volumes), then down and the machine compared with before
	@scripts/node/check.sh

kind-up: ## The platform on a local kind cluster: cluster, image, chart, examples/kind.yaml, wait for Ready, print the URL
	@scripts/kind.sh up

kind-image: ## Rebuild the image, load it into the kind cluster and restart the operator and the platform on it
	@scripts/kind.sh image

kind-status: ## The kind cluster, the operator, the CoupleApp and its pods, the URL
	@scripts/kind.sh status

kind-down: ## Delete the kind cluster (and stop the port forward to it)
	@scripts/kind.sh down

crds: ## Regenerate crds/ (and the chart's copy) from the operator's Rust types
	$(CARGO) run --quiet -p couple-operator -- crd > crds/coupleapps.couple.dev.yaml
	cp crds/coupleapps.couple.dev.yaml charts/couple-operator/crds/

clean-data: ## Delete the local run's data (.data/)
	rm -rf .data
