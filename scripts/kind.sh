#!/usr/bin/env bash
# The couple platform on a local kind cluster, from nothing to a URL that answers.
#
#   scripts/kind.sh up       create the cluster (kind-config.yaml) unless it exists, build the
#                            image and load it into the node, install or upgrade the operator's
#                            chart, apply the example CoupleApp, wait until it is Ready, forward
#                            a local port to the gateway and print the URL   (make kind-up)
#   scripts/kind.sh image    rebuild the image, load it again and restart the operator and the
#                            platform's workloads so they run it              (make kind-image)
#   scripts/kind.sh status   the cluster, the operator, the CoupleApp, its pods and the URL
#                            (make kind-status)
#   scripts/kind.sh forward  forward the local port to the gateway in the foreground, restarting
#                            when the gateway pod changes (kind-up starts one in the background)
#   scripts/kind.sh down     stop the port forward and delete the cluster     (make kind-down)
#
# Every step is idempotent: `up` again upgrades what exists, and restarts the workloads when the
# rebuilt image differs from the one it loaded before. kubectl and helm are always pointed at the
# context kind-<cluster>, never at the current context, so no other cluster is touched.
#
# The gateway is reached through `kubectl port-forward` to its Service, on 127.0.0.1 only: it
# needs nothing besides kubectl (no ingress controller to install, no host port that must be
# free when the cluster is created) and works the same on Linux and Docker Desktop. The
# CoupleApp's Endpoint column shows the in-cluster URL (http://<name>-gateway.<namespace>.svc:80).
#
# Environment (defaults in brackets):
#   COUPLE_KIND_CLUSTER      kind cluster name [couple]
#   COUPLE_KIND_NODE_IMAGE   kindest/node image for a new cluster [kind's default]
#   COUPLE_KIND_IMAGE        image repository [couple-platform]
#   COUPLE_KIND_TAG          image tag [the chart's appVersion]. A rebuild under the same tag
#                            restarts the pods on it but runs no migration: the operator keys
#                            migration Jobs on the image name. After a migration change, run
#                            `up` with a new tag: the operator migrates, then rolls out.
#   COUPLE_KIND_OPERATOR_NS  namespace of the operator's Helm release [couple-system]
#   COUPLE_KIND_EXAMPLE      the CoupleApp to apply [examples/kind.yaml]; its namespace is
#                            created (couple when the file names none)
#   COUPLE_KIND_TIMEOUT      seconds to wait for the chart and for the CoupleApp's Ready [600]
#   COUPLE_KIND_PORT         local port forwarded to the gateway [8088]
set -euo pipefail

LOG_NAME=kind
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)

chart=charts/couple-operator
release=couple-operator
app_version=$(awk '/^appVersion:/ { v = $2; gsub(/["\047]/, "", v); print v; exit }' "${chart}/Chart.yaml")
[[ -n ${app_version} ]] || die "no appVersion in ${chart}/Chart.yaml"

cluster=${COUPLE_KIND_CLUSTER:-couple}
node_image=${COUPLE_KIND_NODE_IMAGE:-}
repository=${COUPLE_KIND_IMAGE:-couple-platform}
tag=${COUPLE_KIND_TAG:-${app_version}}
image="${repository}:${tag}"
operator_ns=${COUPLE_KIND_OPERATOR_NS:-couple-system}
example=${COUPLE_KIND_EXAMPLE:-examples/kind.yaml}
timeout=${COUPLE_KIND_TIMEOUT:-600}
port=${COUPLE_KIND_PORT:-8088}
context="kind-${cluster}"
state_dir="${repo}/.tmp/kind/${cluster}"
forward_pid="${state_dir}/port-forward.pid"
forward_log="${state_dir}/port-forward.log"

[[ ${timeout} =~ ^[1-9][0-9]*$ ]] || die "COUPLE_KIND_TIMEOUT must be a number of seconds, not '${timeout}'"
[[ ${port} =~ ^[1-9][0-9]{0,4}$ && ${port} -le 65535 ]] || die "COUPLE_KIND_PORT must be a port number, not '${port}'"

kctl() { kubectl --context "${context}" "$@"; }
step() { printf '\n==> %s\n' "$*" >&2; }

# ---- prerequisites -------------------------------------------------------------------------

need() {
    local tool=$1 hint=$2
    command -v "${tool}" >/dev/null 2>&1 || die "${tool} is not installed; ${hint}"
}

check_tools() {
    local tool
    for tool in "$@"; do
        case ${tool} in
        docker) need docker "install Docker Engine or Docker Desktop: https://docs.docker.com/get-docker/" ;;
        kind) need kind "install kind (0.20 or later): https://kind.sigs.k8s.io/docs/user/quick-start/#installation" ;;
        kubectl) need kubectl "install kubectl: https://kubernetes.io/docs/tasks/tools/" ;;
        helm) need helm "install Helm: https://helm.sh/docs/intro/install/" ;;
        esac
    done
    if [[ " $* " == *" docker "* ]]; then
        docker info >/dev/null 2>&1 ||
            die "docker cannot reach its daemon (is Docker running, and may this user use it? try: docker info)"
    fi
}

# ---- the cluster -----------------------------------------------------------------------------

# Whole lines of captured output (grep -q in a pipeline could end the writer early, which
# pipefail would report as a failure).
has_line() { grep -qxF -- "$1" <<<"$2"; }
cluster_exists() { has_line "${cluster}" "$(kind get clusters 2>/dev/null || true)"; }
has_context() { has_line "${context}" "$(kubectl config get-contexts -o name 2>/dev/null || true)"; }

ensure_cluster() {
    if cluster_exists; then
        log "kind cluster '${cluster}' exists"
        # A kubeconfig edited or replaced since the cluster was created lacks the context.
        if ! has_context; then
            kind export kubeconfig --name "${cluster}"
        fi
    else
        step "creating the kind cluster '${cluster}' (kind-config.yaml)"
        local args=(create cluster --name "${cluster}" --config kind-config.yaml --wait 120s)
        if [[ -n ${node_image} ]]; then
            args+=(--image "${node_image}")
        fi
        kind "${args[@]}"
    fi
    kctl cluster-info >/dev/null || die "the cluster does not answer through the context ${context}"
}

require_cluster() {
    cluster_exists || die "there is no kind cluster '${cluster}'; create it with: make kind-up"
    has_context || kind export kubeconfig --name "${cluster}"
}

# ---- the image -------------------------------------------------------------------------------

build_image() {
    step "building ${image} (Dockerfile; the first build compiles every dependency and takes a while)"
    DOCKER_BUILDKIT=1 docker build --tag "${image}" --file Dockerfile .
}

# Whether the image differs from the one loaded by this script before (the same tag rebuilt
# from changed code): pods already running then have to be restarted to run it.
image_changed=false

load_image() {
    step "loading ${image} into the node"
    local id previous
    id=$(docker image inspect --format '{{.Id}}' "${image}")
    previous=$(cat "${state_dir}/image-id" 2>/dev/null || true)
    if [[ -n ${previous} && ${previous} != "${id}" ]]; then
        image_changed=true
    fi
    load_image_into_node
    mkdir -p "${state_dir}"
    printf '%s\n' "${id}" >"${state_dir}/image-id"
}

load_image_into_node() {
    if kind load docker-image --name "${cluster}" "${image}"; then
        return
    fi
    # With Docker's containerd image store (the default since Docker 29), `kind load docker-image`
    # can fail with "content digest ... not found" (kubernetes-sigs/kind#3795). Saving only the
    # image's own platform and loading the archive works there.
    log "kind load docker-image failed; retrying through a single-platform archive"
    local platform archive="${state_dir}/image.tar"
    platform=$(docker image inspect --format '{{.Os}}/{{.Architecture}}' "${image}")
    mkdir -p "${state_dir}"
    docker image save --platform "${platform}" --output "${archive}" "${image}" ||
        docker image save --output "${archive}" "${image}"
    kind load image-archive --name "${cluster}" "${archive}"
    rm -f "${archive}"
}

# ---- the operator ----------------------------------------------------------------------------

install_chart() {
    # Helm installs the chart's crds/ on the first install only and never upgrades them; apply
    # them first so a changed CRD reaches an existing cluster too (as the chart's NOTES say).
    step "applying the CRD and installing the chart ${chart} (release ${release} in ${operator_ns})"
    kctl apply --server-side --force-conflicts --field-manager couple-kind -f "${chart}/crds/"
    kctl wait --for condition=Established --timeout 60s crd/coupleapps.couple.dev
    helm upgrade --install "${release}" "${chart}" \
        --kube-context "${context}" \
        --namespace "${operator_ns}" --create-namespace \
        --set-string image.repository="${repository}" \
        --set-string image.tag="${tag}" \
        --set image.pullPolicy=IfNotPresent \
        --wait --timeout "${timeout}s"
}

# ---- the CoupleApp ---------------------------------------------------------------------------

app_name=""
app_ns=""

# The example's name and namespace, read by kubectl (the CRD must be installed).
read_example() {
    [[ -f ${example} ]] || die "no CoupleApp file ${example} (COUPLE_KIND_EXAMPLE)"
    local meta kind
    meta=$(kctl create --dry-run=client -f "${example}" -o jsonpath='{.kind}|{.metadata.name}|{.metadata.namespace}') ||
        die "kubectl cannot read ${example}"
    IFS='|' read -r kind app_name app_ns <<<"${meta}"
    [[ ${kind} == CoupleApp && -n ${app_name} ]] || die "${example} must hold exactly one CoupleApp (found: ${meta})"
    app_ns=${app_ns:-couple}
}

apply_example() {
    step "applying ${example} (CoupleApp ${app_ns}/${app_name})"
    kctl create namespace "${app_ns}" --dry-run=client -o yaml | kctl apply -f -
    kctl apply --namespace "${app_ns}" -f "${example}"
    # Point the CoupleApp at the image just loaded when the file names another one. A later
    # `kubectl apply` of the unchanged file leaves this alone (the file's image did not change).
    local current
    current=$(kctl -n "${app_ns}" get coupleapp "${app_name}" -o jsonpath='{.spec.image.repository}:{.spec.image.tag}')
    if [[ ${current} != "${image}" ]]; then
        log "setting spec.image to ${image} (the file says ${current})"
        kctl -n "${app_ns}" patch coupleapp "${app_name}" --type merge \
            -p "{\"spec\":{\"image\":{\"repository\":\"${repository}\",\"tag\":\"${tag}\"}}}"
    fi
}

conditions() {
    kctl -n "${app_ns}" get coupleapp "${app_name}" \
        -o jsonpath='{range .status.conditions[*]}{"    "}{.type}={.status} {.reason}: {.message}{"\n"}{end}' 2>/dev/null || true
}

explain_not_ready() {
    {
        printf '\n--- CoupleApp %s/%s ---\n' "${app_ns}" "${app_name}"
        kctl -n "${app_ns}" get coupleapp "${app_name}" -o wide || true
        conditions
        printf -- '--- pods in %s ---\n' "${app_ns}"
        kctl -n "${app_ns}" get pods -o wide || true
        printf -- '--- recent events in %s ---\n' "${app_ns}"
        kctl -n "${app_ns}" get events --sort-by .lastTimestamp 2>/dev/null | tail -n 15 || true
        printf -- '---\nLook further with:\n'
        printf '  kubectl --context %s -n %s describe coupleapp %s\n' "${context}" "${app_ns}" "${app_name}"
        printf '  kubectl --context %s -n %s logs deployment/%s\n' "${context}" "${operator_ns}" "${release}"
        printf '  kubectl --context %s -n %s get pods,jobs\n' "${context}" "${app_ns}"
    } >&2
}

# Ready=True for the current generation (a Ready from before the last change does not count).
# Fails fast on phase Failed, which needs a change to the spec.
wait_coupleapp_ready() {
    step "waiting up to ${timeout}s for CoupleApp ${app_ns}/${app_name} to become Ready"
    local deadline=$((SECONDS + timeout)) state generation observed phase ready last=""
    while :; do
        state=$(kctl -n "${app_ns}" get coupleapp "${app_name}" \
            -o jsonpath='{.metadata.generation}|{.status.observedGeneration}|{.status.phase}|{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) || state=""
        IFS='|' read -r generation observed phase ready <<<"${state}" || true
        if [[ ${phase} != "${last}" ]]; then
            log "phase ${phase:-(none yet)}"
            last=${phase}
        fi
        if [[ -n ${observed} && ${observed} == "${generation}" ]]; then
            if [[ ${ready} == True ]]; then
                log "CoupleApp ${app_ns}/${app_name} is Ready"
                return 0
            fi
            if [[ ${phase} == Failed ]]; then
                explain_not_ready
                die "CoupleApp ${app_ns}/${app_name} failed; it needs a change to its spec (or a fixed migration)"
            fi
        fi
        if ((SECONDS >= deadline)); then
            explain_not_ready
            die "CoupleApp ${app_ns}/${app_name} was not Ready after ${timeout}s (COUPLE_KIND_TIMEOUT)"
        fi
        sleep 5
    done
}

# ---- the port forward ------------------------------------------------------------------------

url() { printf 'http://127.0.0.1:%s' "${port}"; }

# The pid in the pid file, when that process is still this script's forward loop. `ps -o
# command=` rather than /proc, so this works on macOS too.
forward_running_pid() {
    local pid
    pid=$(cat "${forward_pid}" 2>/dev/null) || return 1
    [[ ${pid} =~ ^[0-9]+$ ]] || return 1
    [[ $(ps -p "${pid}" -o command= 2>/dev/null) == *kind.sh*forward* ]] || return 1
    printf '%s\n' "${pid}"
}

stop_forward() {
    local pid
    if pid=$(forward_running_pid); then
        log "stopping the port forward (pid ${pid})"
        kill "${pid}" 2>/dev/null || true
        local _
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            kill -0 "${pid}" 2>/dev/null || break
            sleep 0.5
        done
    fi
    rm -f "${forward_pid}"
}

# Foreground: forward 127.0.0.1:<port> to the gateway Service, again whenever kubectl stops
# (a port forward ends when the pod behind it goes away, e.g. after `make kind-image`). Gives up
# when the Service is gone for a minute (the CoupleApp or the cluster was deleted).
cmd_forward() {
    check_tools kubectl
    require_cluster
    read_example
    # Run in the foreground by hand, take over the port from the one kind-up started.
    [[ -n ${COUPLE_KIND_FORWARD_BACKGROUND:-} ]] || stop_forward
    local service="${app_name}-gateway" child="" missing=0 service_port
    trap 'if [[ -n ${child} ]]; then kill "${child}" 2>/dev/null || true; fi; exit 0' TERM INT HUP
    while :; do
        if ! service_port=$(kctl -n "${app_ns}" get service "${service}" -o jsonpath='{.spec.ports[?(@.name=="http")].port}' 2>/dev/null) ||
            [[ -z ${service_port} ]]; then
            missing=$((missing + 1))
            ((missing < 30)) || die "the Service ${app_ns}/${service} has been missing for a minute; stopping the port forward"
            sleep 2
            continue
        fi
        missing=0
        log "forwarding $(url) to service/${service} port ${service_port}"
        # kubectl itself in the background (not through a function, which would fork a subshell
        # and leave kubectl behind when the trap kills the subshell).
        kubectl --context "${context}" -n "${app_ns}" port-forward --address 127.0.0.1 \
            "service/${service}" "${port}:${service_port}" &
        child=$!
        wait "${child}" || true
        child=""
        sleep 2
    done
}

start_forward() {
    stop_forward
    mkdir -p "${state_dir}"
    step "forwarding $(url) to the gateway (log: ${forward_log#"${repo}"/})"
    COUPLE_KIND_FORWARD_BACKGROUND=1 nohup "${repo}/scripts/kind.sh" forward >"${forward_log}" 2>&1 </dev/null &
    printf '%s\n' "$!" >"${forward_pid}"
    if ! command -v curl >/dev/null 2>&1; then
        log "curl is not installed; not checking $(url)"
        return
    fi
    local _
    for _ in $(seq 1 30); do
        if curl -fsS -o /dev/null --max-time 2 "$(url)/healthz" 2>/dev/null; then
            return
        fi
        forward_running_pid >/dev/null || break
        sleep 1
    done
    {
        printf -- '--- last lines of %s ---\n' "${forward_log}"
        tail -n 20 "${forward_log}" 2>/dev/null || true
        printf -- '---\n'
    } >&2
    die "the platform is Ready but $(url)/healthz does not answer through the port forward (is port ${port} taken? set COUPLE_KIND_PORT)"
}

print_url() {
    local endpoint
    endpoint=$(kctl -n "${app_ns}" get coupleapp "${app_name}" -o jsonpath='{.status.endpoint}' 2>/dev/null || true)
    cat <<EOF

The couple platform runs on the kind cluster '${cluster}' (kubectl context ${context}).

  URL:   $(url)
         a kubectl port-forward to service/${app_name}-gateway; inside the cluster the gateway
         is ${endpoint:-http://${app_name}-gateway.${app_ns}.svc} (the CoupleApp's Endpoint)

  curl -s $(url)/healthz
  curl -s -X POST $(url)/api/users/signup -H 'content-type: application/json' \\
       -d '{"email":"me@example.com","password":"password-123","name":"Me","gender":"F","birth":"1998-04-12"}'
  curl -s -X POST $(url)/api/users/login -H 'content-type: application/json' \\
       -d '{"email":"me@example.com","password":"password-123"}'

  kubectl --context ${context} -n ${app_ns} get coupleapp ${app_name}
  make kind-status        the cluster, the operator and the platform
  make kind-image         rebuild the image and restart the workloads on it
  make kind-down          delete the cluster

The port forward runs in the background (pid $(cat "${forward_pid}" 2>/dev/null || echo '?'), log ${forward_log#"${repo}"/});
\`scripts/kind.sh forward\` runs one in the foreground instead.
EOF
}

# ---- subcommands -----------------------------------------------------------------------------

cmd_up() {
    check_tools docker kind kubectl helm
    ensure_cluster
    build_image
    load_image
    install_chart
    read_example
    apply_example
    if [[ ${image_changed} == true ]]; then
        restart_workloads
    fi
    wait_coupleapp_ready
    start_forward
    print_url
}

# Same tag, new image: the node now resolves the tag to the new image, and pods started from here
# on run it (pullPolicy IfNotPresent). Restarting the operator first lets it reconcile with its
# new code; the platform's Deployments and StatefulSets follow (not the databases).
restart_workloads() {
    step "restarting the operator and the platform's workloads on the new ${image}"
    kctl -n "${operator_ns}" rollout restart "deployment/${release}"
    kctl -n "${operator_ns}" rollout status "deployment/${release}" --timeout "${timeout}s"
    local selector="app.kubernetes.io/instance=${app_name},app.kubernetes.io/managed-by=couple-operator"
    selector+=",app.kubernetes.io/component in (gateway,user-couple,schedule-meeting,question-answer,chat)"
    local workloads workload
    workloads=$(kctl -n "${app_ns}" get deployments,statefulsets -l "${selector}" -o name)
    if [[ -z ${workloads} ]]; then
        log "no workloads of ${app_ns}/${app_name} yet; the operator starts them on the new image"
        return
    fi
    for workload in ${workloads}; do
        kctl -n "${app_ns}" rollout restart "${workload}"
    done
    for workload in ${workloads}; do
        kctl -n "${app_ns}" rollout status "${workload}" --timeout "${timeout}s"
    done
}

cmd_image() {
    check_tools docker kind kubectl
    require_cluster
    kctl -n "${operator_ns}" get "deployment/${release}" >/dev/null 2>&1 ||
        die "the operator is not installed in ${operator_ns}; run make kind-up first"
    build_image
    load_image
    read_example
    restart_workloads
    wait_coupleapp_ready
    # The forward loop reconnects by itself; start one when none runs.
    if ! forward_running_pid >/dev/null; then
        start_forward
    fi
    local running
    running=$(kctl -n "${app_ns}" get coupleapp "${app_name}" -o jsonpath='{.spec.image.repository}:{.spec.image.tag}')
    if [[ ${running} != "${image}" ]]; then
        log "note: the CoupleApp runs ${running}, not ${image}; make kind-up switches it (with its migrations)"
    fi
    log "the rebuilt ${image} runs: $(url)"
}

cmd_status() {
    check_tools kind kubectl
    if ! cluster_exists; then
        log "there is no kind cluster '${cluster}' (make kind-up creates it)"
        return 0
    fi
    require_cluster
    printf -- '--- nodes (context %s) ---\n' "${context}"
    kctl get nodes -o wide
    printf -- '--- operator (%s) ---\n' "${operator_ns}"
    kctl -n "${operator_ns}" get deployment,pods -l "app.kubernetes.io/instance=${release}" 2>/dev/null || true
    printf -- '--- CoupleApps ---\n'
    kctl get coupleapps --all-namespaces -o wide 2>/dev/null || printf '(the CRD is not installed)\n'
    if kctl get crd coupleapps.couple.dev >/dev/null 2>&1; then
        read_example
        if kctl -n "${app_ns}" get coupleapp "${app_name}" >/dev/null 2>&1; then
            printf -- '--- %s/%s conditions ---\n' "${app_ns}" "${app_name}"
            conditions
            printf -- '--- pods in %s ---\n' "${app_ns}"
            kctl -n "${app_ns}" get pods -o wide
        fi
    fi
    printf -- '--- port forward ---\n'
    local pid
    if pid=$(forward_running_pid); then
        printf '%s (pid %s, log %s)\n' "$(url)" "${pid}" "${forward_log#"${repo}"/}"
    else
        printf 'not running (scripts/kind.sh forward, or make kind-up)\n'
    fi
}

cmd_down() {
    stop_forward
    check_tools kind
    if cluster_exists; then
        step "deleting the kind cluster '${cluster}'"
        kind delete cluster --name "${cluster}"
    else
        log "there is no kind cluster '${cluster}'"
    fi
    rm -rf "${state_dir}"
}

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}

case ${1:-} in
up) cmd_up ;;
image) cmd_image ;;
status) cmd_status ;;
forward) cmd_forward ;;
down) cmd_down ;;
-h | --help | help) usage ;;
*)
    usage >&2
    exit 2
    ;;
esac
