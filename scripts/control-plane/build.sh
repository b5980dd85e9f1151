#!/usr/bin/env bash
# Build kube-apiserver and kube-controller-manager 1.20.2 from Debian's own
# `kubernetes` source package and cache them per machine (not per clone).
#
#   scripts/control-plane/build.sh            build once, then a cheap no-op
#   scripts/control-plane/build.sh --force    rebuild even if cached
#   scripts/control-plane/build.sh --check    exit 0 if the binaries are cached, 1 if not
#   scripts/control-plane/build.sh --bin-dir  print the directory holding the binaries
#   scripts/control-plane/build.sh --node [--force|--check]
#                                             the same for the node's binaries: kubelet,
#                                             kube-proxy, kube-scheduler, kubectl and the
#                                             pause binary (scripts/node/node.sh)
#
# Steps (see ../shared/notes/local-control-plane.md, where each one was checked):
#   1. apt: golang-go rsync etcd-server golang-github-modern-go-reflect2-dev
#      openssl dpkg-dev make curl (only what is missing; etcd-server's service
#      is kept from starting). If apt has no deb-src entries at all, one for
#      `bookworm main` is added, using the mirror the machine already uses.
#   2. `apt-get source --download-only kubernetes/bookworm` into the cache
#      (kept, so a rebuild does not download again).
#   3. Unpack the .orig tarball (the full 1.20.2 tree with vendor/) and
#      replace the vendored reflect2 1.0.1 with Debian's 1.0.2: 1.0.1 breaks
#      under Go >= 1.18 (nil-pointer panic on the first custom-resource write).
#   4. Build like debian/rules: GOPATH layout, CGO_ENABLED=0, writable HOME,
#      `make WHAT="cmd/kube-apiserver cmd/kube-controller-manager"`; one retry
#      with a clean _output/ if the first run fails.
#   5. Install both binaries into $COUPLE_K8S_CACHE/bin, delete the unpacked
#      tree and the Go caches (about 2 GB).
# With --node, step 4 makes cmd/kubelet cmd/kube-proxy cmd/kube-scheduler
# cmd/kubectl instead (about 8 minutes) and `gcc -static` builds the pause binary
# from build/pause/linux/pause.c of the same tree; the node's runtime packages
# (containerd, runc, CNI plugins, iptables, ipset, dnsmasq-base) are installed
# too. Both targets share bin/, the downloaded source and the lock.
#
# Environment:
#   COUPLE_K8S_CACHE       cache dir (default ~/.cache/couple-platform/k8s-1.20.2);
#                          bin/, src/ (downloaded source), build/ (temporary), build.log
#   COUPLE_K8S_KEEP_BUILD  1 = keep build/ after a successful build (debugging)
#
# Concurrent runs (two test runs on a fresh machine) are serialised with a
# lock file in the cache dir; the second one finds the binaries and returns.
set -euo pipefail

LOG_NAME='control-plane build'
# shellcheck source=scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

k8s_version=1.20.2
debian_suite=bookworm
cache=${COUPLE_K8S_CACHE:-${HOME:-/root}/.cache/couple-platform/k8s-${k8s_version}}
[[ ${cache} == /* ]] || cache="${PWD}/${cache}"
bin_dir=${cache}/bin
src_dir=${cache}/src
build_dir=${cache}/build
log_file=${cache}/build.log
orig="" # the downloaded .orig tarball, set by fetch_source
reflect2_src=/usr/share/gocode/src/github.com/modern-go/reflect2

# What a target builds: Go binaries (make WHAT=cmd/<name>) and, for the node,
# the pause binary (gcc). `select_target` sets these; the control plane's by default.
target=control-plane
binaries=(kube-apiserver kube-controller-manager)
pause_binary=0

# Packages: the build needs the first five, cluster.sh needs etcd-server, openssl, curl.
packages=(golang-go rsync golang-github-modern-go-reflect2-dev dpkg-dev make etcd-server openssl curl)
runtime_packages=(etcd-server openssl curl)

# select_target node: the node's binaries and packages instead (see the header).
select_target() {
    target=$1
    log_file=${cache}/build-${target}.log
    binaries=(kubelet kube-proxy kube-scheduler kubectl)
    pause_binary=1
    # gcc and libc6-dev (libc.a) for the static pause binary; the rest runs the node.
    runtime_packages=(containerd runc containernetworking-plugins iptables ipset dnsmasq-base
        conntrack openssl curl python3)
    packages=(golang-go rsync golang-github-modern-go-reflect2-dev dpkg-dev make gcc libc6-dev
        "${runtime_packages[@]}")
}

export DEBIAN_FRONTEND=noninteractive



apt_opts=(
    -o DPkg::Lock::Timeout=600
    -o Dpkg::Options::=--force-confdef
    -o Dpkg::Options::=--force-confold
)


# True if the target's binaries are in bin/ and answer --version (kubectl has no
# --version flag, the pause binary answers -v).
cached() {
    local b
    for b in "${binaries[@]}"; do
        [[ -x ${bin_dir}/${b} ]] || return 1
        if [[ ${b} == kubectl ]]; then
            "${bin_dir}/${b}" version --client >/dev/null 2>&1 || return 1
        else
            "${bin_dir}/${b}" --version >/dev/null 2>&1 || return 1
        fi
    done
    if ((pause_binary)); then
        "${bin_dir}/pause" -v >/dev/null 2>&1 || return 1
    fi
    return 0
}

elapsed() { printf '%dm%02ds' $((SECONDS / 60)) $((SECONDS % 60)); }

# --------------------------------------------------------------- packages

# install_packages PKG...: install the ones that are missing (apt-get update
# first). etcd-server's postinst would start a system etcd on :2379; a
# temporary policy-rc.d keeps it (and any other service) from starting.
install_packages() {
    local missing=() p
    for p in "$@"; do
        pkg_installed "${p}" || missing+=("${p}")
    done
    ((${#missing[@]} > 0)) || return 0
    log "installing: ${missing[*]}"

    local policy=/usr/sbin/policy-rc.d added_policy=0
    if [[ ! -e ${policy} ]]; then
        printf '#!/bin/sh\n# temporary, added by scripts/control-plane/build.sh\nexit 101\n' \
            | as_root tee "${policy}" >/dev/null
        as_root chmod 0755 "${policy}"
        added_policy=1
        # shellcheck disable=SC2064 # expand now: remove exactly this file
        trap "as_root rm -f '${policy}'" EXIT
    fi
    as_root apt-get "${apt_opts[@]}" update -q </dev/null >>"${log_file}" 2>&1 \
        || fail_with_log "apt-get update failed"
    as_root apt-get "${apt_opts[@]}" install -y -q --no-install-recommends "${missing[@]}" \
        </dev/null >>"${log_file}" 2>&1 || fail_with_log "apt-get install failed"
    if ((added_policy)); then
        as_root rm -f "${policy}"
        trap - EXIT
    fi
}

# ----------------------------------------------------------------- deb-src

# Print the Signed-By value (possibly several lines) of entry N of a sources
# file: for deb822 (.sources) N is the stanza number, for one-line (.list)
# files the line number. Prints nothing when there is none.
signed_by_of() {
    local file=$1 n=$2
    [[ -r ${file} ]] || return 0
    if [[ ${file} == *.sources ]]; then
        awk -v want="${n}" '
            BEGIN { RS = ""; FS = "\n" }
            NR == want {
                for (i = 1; i <= NF; i++) {
                    line = $i
                    if (line ~ /^#/) continue
                    if (insb && line ~ /^[ \t]/) { print line; continue }
                    insb = 0
                    if (tolower(line) ~ /^signed-by:/) {
                        insb = 1
                        sub(/^[^:]*:[ \t]*/, "", line)
                        print line
                    }
                }
            }' "${file}"
    else
        sed -n "${n}p" "${file}" | sed -n 's/.*\[[^]]*signed-by=\([^] ]*\).*/\1/p'
    fi
}

# If apt knows no source (deb-src) entries at all, add one for
# `${debian_suite} main` on the mirror the machine already uses for binary
# packages, in the same format, with the same Signed-By (apt refuses
# conflicting Signed-By values for one mirror and suite).
# shellcheck disable=SC2016 # $(FIELD) is apt-get indextargets syntax
ensure_deb_src() {
    if [[ -n "$(apt-get indextargets --format '$(RELEASE)' 'Created-By: Sources' 2>/dev/null)" ]]; then
        return 0
    fi
    local entry uri sourcesentry file n signed_by
    entry=$(apt-get indextargets --format '$(REPO_URI)|$(SOURCESENTRY)' \
        'Created-By: Packages' "Release: ${debian_suite}" 'Component: main' 2>/dev/null | head -n1)
    if [[ -z ${entry} ]]; then
        # Another Debian release: any mirror serving `main` also has ${debian_suite}.
        entry=$(apt-get indextargets --format '$(REPO_URI)|$(SOURCESENTRY)' \
            'Created-By: Packages' 'Component: main' 2>/dev/null \
            | grep -v -e '-security' | head -n1 || true)
    fi
    [[ -n ${entry} ]] || die "no apt source with component 'main' found; add a deb-src entry for '${debian_suite} main' by hand"
    uri=${entry%%|*}
    sourcesentry=${entry#*|}
    file=${sourcesentry%:*}
    n=${sourcesentry##*:}
    signed_by=$(signed_by_of "${file}" "${n}")

    local out
    if [[ ${file} == *.sources ]]; then
        out=/etc/apt/sources.list.d/couple-platform-deb-src.sources
        {
            printf '# Added by couple-platform scripts/control-plane/build.sh for\n'
            printf '# apt-get source kubernetes. Safe to delete.\n'
            printf 'Types: deb-src\nURIs: %s\nSuites: %s\nComponents: main\n' "${uri}" "${debian_suite}"
            if [[ -n ${signed_by} ]]; then
                printf 'Signed-By: %s\n' "${signed_by}"
            fi
        } | as_root tee "${out}.tmp" >/dev/null
    else
        out=/etc/apt/sources.list.d/couple-platform-deb-src.list
        {
            printf '# Added by couple-platform scripts/control-plane/build.sh for\n'
            printf '# apt-get source kubernetes. Safe to delete.\n'
            if [[ -n ${signed_by} ]]; then
                printf 'deb-src [signed-by=%s] %s %s main\n' "${signed_by}" "${uri}" "${debian_suite}"
            else
                printf 'deb-src %s %s main\n' "${uri}" "${debian_suite}"
            fi
        } | as_root tee "${out}.tmp" >/dev/null
    fi
    as_root mv "${out}.tmp" "${out}"
    log "added ${out} (deb-src ${uri} ${debian_suite} main)"
    as_root apt-get "${apt_opts[@]}" update -q </dev/null >>"${log_file}" 2>&1 \
        || fail_with_log "apt-get update failed"
}

# Set `orig` to the path of the downloaded .orig tarball (download it first
# if needed).
fetch_source() {
    orig=$(compgen -G "${src_dir}/kubernetes_*.orig.tar.gz" | sort -V | tail -n1 || true)
    if [[ -n ${orig} ]]; then
        log "source already downloaded: ${orig##*/}"
        return
    fi
    ensure_deb_src
    mkdir -p "${src_dir}"
    log "downloading the kubernetes source package (${debian_suite}, ~35 MB)"
    # Download into a scratch dir and move the files in only when complete, so
    # an interrupted download is never mistaken for a cached one.
    local dl=${src_dir}/.download
    rm -rf "${dl}"
    mkdir -p "${dl}"
    if ! (cd "${dl}" && apt-get source --download-only "kubernetes/${debian_suite}") \
            </dev/null >>"${log_file}" 2>&1; then
        # Source entries exist but their lists may be stale or not fetched yet.
        as_root apt-get "${apt_opts[@]}" update -q </dev/null >>"${log_file}" 2>&1 || true
        (cd "${dl}" && apt-get source --download-only "kubernetes/${debian_suite}") \
            </dev/null >>"${log_file}" 2>&1 \
            || fail_with_log "apt-get source kubernetes/${debian_suite} failed (does apt have a deb-src entry for '${debian_suite} main'?)"
    fi
    mv "${dl}"/kubernetes_* "${src_dir}/"
    rmdir "${dl}"
    orig=$(compgen -G "${src_dir}/kubernetes_*.orig.tar.gz" | sort -V | tail -n1 || true)
    [[ -n ${orig} ]] || fail_with_log "no kubernetes_*.orig.tar.gz after apt-get source"
    log "downloaded ${orig##*/}"
}

# ------------------------------------------------------------------- build

# Replace vendor/github.com/modern-go/reflect2 (1.0.1) with Debian's 1.0.2
# and record that in go.mod and vendor/modules.txt.
patch_reflect2() {
    local tree=$1 vdir=$1/vendor/github.com/modern-go/reflect2 f
    [[ -d ${reflect2_src} ]] || die "${reflect2_src} missing (package golang-github-modern-go-reflect2-dev)"
    [[ -d ${vdir} ]] || die "unexpected source tree: ${vdir} missing"
    rm -rf "${vdir}"
    mkdir -p "${vdir}"
    for f in "${reflect2_src}"/*.go "${reflect2_src}"/*.s; do
        [[ -e ${f} ]] || continue
        [[ ${f} == *_test.go ]] && continue
        cp "${f}" "${vdir}/"
    done
    if [[ -e ${reflect2_src}/LICENSE ]]; then
        cp "${reflect2_src}/LICENSE" "${vdir}/"
    fi
    # go.mod: `github.com/modern-go/reflect2 => github.com/modern-go/reflect2 v1.0.1`
    sed -i '/^[[:space:]]*github\.com\/modern-go\/reflect2 => /s/v1\.0\.1/v1.0.2/' "${tree}/go.mod"
    # modules.txt: `# github.com/modern-go/reflect2 v1.0.1 => ... v1.0.1` and
    #              `# github.com/modern-go/reflect2 => ... v1.0.1`
    sed -i '/^# github\.com\/modern-go\/reflect2 /s/v1\.0\.1/v1.0.2/g' "${tree}/vendor/modules.txt"
    grep -q '^[[:space:]]*github\.com/modern-go/reflect2 => github\.com/modern-go/reflect2 v1\.0\.2' "${tree}/go.mod" \
        || die "reflect2 patch: replace line in go.mod not found"
    [[ $(grep -c '^# github\.com/modern-go/reflect2 .*v1\.0\.2' "${tree}/vendor/modules.txt") -eq 2 ]] \
        || die "reflect2 patch: expected two reflect2 header lines in vendor/modules.txt"
    log "patched vendored reflect2 1.0.1 -> 1.0.2 (from ${reflect2_src})"
}

# One `make WHAT=...` run, as debian/rules does it: GOPATH=<tree>/.go with
# .go/src/k8s.io/kubernetes -> the tree, CGO_ENABLED=0, a writable HOME, make
# from the tree's root. Output goes to the log.
run_make() {
    local tree=$1
    (
        cd "${tree}"
        export GOPATH=${tree}/.go
        export HOME=${build_dir}/home
        export GOCACHE=${build_dir}/home/.cache/go-build
        export CGO_ENABLED=0
        # hack/lib/init.sh builds in GOPATH mode (GO111MODULE=off) from
        # vendor/; a user's GOFLAGS (e.g. -mod=...) would break that, and
        # nothing may reach for the network.
        export GOFLAGS='' GOPROXY=off GOSUMDB=off
        unset GO111MODULE GOROOT
        # The version (v1.20.2, commit, tree state "archive") comes from the
        # git-archive placeholders in hack/lib/version.sh: no .git needed.
        make WHAT="${binaries[*]/#/cmd/}"
    ) </dev/null >>"${log_file}" 2>&1
}

build() {
    local tree
    SECONDS=0
    : >"${log_file}"
    log "building ${binaries[*]} ${k8s_version} (about $((${#binaries[@]} * 2)) minutes on 2 cores)"
    log "log: ${log_file}"

    install_packages "${packages[@]}"
    command -v go >/dev/null 2>&1 || die "go not found after installing golang-go"
    log "go: $(go version)"
    fetch_source

    rm -rf "${build_dir}"
    mkdir -p "${build_dir}/unpack" "${build_dir}/home"
    log "unpacking ${orig##*/}"
    tar -xzf "${orig}" -C "${build_dir}/unpack" >>"${log_file}" 2>&1 \
        || fail_with_log "could not unpack ${orig} (delete ${src_dir} to download it again)"
    local top=("${build_dir}"/unpack/*)
    if ((${#top[@]} != 1)) || [[ ! -d ${top[0]} ]]; then
        die "unexpected layout of ${orig##*/}"
    fi
    tree=${build_dir}/kubernetes
    mv "${top[0]}" "${tree}"
    rmdir "${build_dir}/unpack"
    [[ -f ${tree}/cmd/kube-apiserver/apiserver.go && -d ${tree}/vendor ]] \
        || die "${orig##*/} does not contain the Kubernetes tree with vendor/"

    patch_reflect2 "${tree}"

    mkdir -p "${tree}/.go/src/k8s.io"
    ln -s ../../.. "${tree}/.go/src/k8s.io/kubernetes"

    log "make (log: ${log_file})"
    if ! run_make "${tree}"; then
        # The code generators sometimes fail on a first run (e.g. without
        # rsync); retry once from a clean _output/.
        log "first make failed after $(elapsed); retrying once with a clean _output/"
        install_packages rsync
        rm -rf "${tree}/_output"
        run_make "${tree}" || fail_with_log "make failed twice"
    fi

    local b
    mkdir -p "${bin_dir}"
    for b in "${binaries[@]}"; do
        [[ -x ${tree}/_output/bin/${b} ]] || fail_with_log "make succeeded but _output/bin/${b} is missing"
        install -m 0755 "${tree}/_output/bin/${b}" "${bin_dir}/${b}.tmp"
        mv "${bin_dir}/${b}.tmp" "${bin_dir}/${b}"
    done
    if ((pause_binary)); then
        # As build/pause/Makefile does (TAG 3.4 in 1.20.2), with the system gcc.
        gcc -Os -Wall -Werror -static -DVERSION=v3.4-couple -o "${bin_dir}/pause.tmp" \
            "${tree}/build/pause/linux/pause.c" >>"${log_file}" 2>&1 || fail_with_log "gcc pause.c failed"
        mv "${bin_dir}/pause.tmp" "${bin_dir}/pause"
    fi
    cached || fail_with_log "the built binaries do not run"
    local version
    version=$("${bin_dir}/${binaries[0]}" --version)
    [[ ${version} == "Kubernetes v${k8s_version}" ]] \
        || log "warning: expected 'Kubernetes v${k8s_version}', the binaries say '${version}'"

    if [[ ${COUPLE_K8S_KEEP_BUILD:-0} == 1 ]]; then
        log "keeping ${build_dir} (COUPLE_K8S_KEEP_BUILD=1)"
    else
        # The Go module/build caches contain read-only files.
        chmod -R u+w "${build_dir}" 2>/dev/null || true
        rm -rf "${build_dir}"
    fi
    log "built in $(elapsed): ${binaries[*]} (${version}) in ${bin_dir}"
}

fail_with_log() {
    {
        printf 'control-plane build: error: %s (after %s)\n' "$1" "$(elapsed)"
        if [[ -f ${log_file} ]]; then
            printf -- '--- last lines of %s ---\n' "${log_file}"
            tail -n 40 "${log_file}"
            printf -- '---\n'
        fi
    } >&2
    exit 1
}

main() {
    local force=0
    if [[ ${1:-} == --node ]]; then
        select_target node
        shift
    fi
    case ${1:-} in
        "") ;;
        --force) force=1 ;;
        --check) cached; return ;;
        --bin-dir) printf '%s\n' "${bin_dir}"; return ;;
        -h | --help) sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"; return ;;
        *) printf 'usage: %s [--node] [--force|--check|--bin-dir]\n' "$0" >&2; return 2 ;;
    esac

    mkdir -p "${cache}"
    if ((!force)) && cached; then
        install_packages "${runtime_packages[@]}"
        log "already built, nothing to do: ${binaries[*]} ($("${bin_dir}/${binaries[0]}" --version)) in ${bin_dir}"
        return 0
    fi

    # One build at a time per cache dir; whoever waited re-checks the cache.
    exec 9>"${cache}/.lock"
    if ! flock -n 9; then
        log "another build is running in ${cache}; waiting for it"
        flock 9
    fi
    if ((!force)) && cached; then
        log "already built (by the run we waited for): ${bin_dir}"
        return 0
    fi
    build
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    main "$@"
fi
