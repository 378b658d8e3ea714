#!/usr/bin/env bash
# Builds the binaries of the local control plane from Go modules, once per
# version, into ${EVIDENT_CACHE:-$HOME/.cache/evident}/bin/<component>-<version>/.
# Versions are pinned in hack/versions.env. What is already built is skipped, so
# a second run returns at once.
#
#   hack/build-control-plane.sh [kubernetes|etcd|kwok|gpu-operator ...]   (default: all)
#
# gpu-operator is run.ai's fake-gpu-operator, built from a source tree (no module proxy can
# serve it): a clone of upstream at the pinned tag where one can be made quickly, else the
# archive in EVIDENT_THIRD_PARTY after its sha256 is checked.
#
# Environment:
#   EVIDENT_CACHE   cache root (default ~/.cache/evident)
#   EVIDENT_NICE    nice level of the Go builds (default 10: the machine is shared)
#   EVIDENT_THIRD_PARTY  folder holding the fake-gpu-operator archive
#                   (default: ../shared/third_party from the repository root)
#   EVIDENT_GPU_OPERATOR_CLONE  0 skips the clone attempt and uses the archive at once
#   GOCACHE, GOMODCACHE are left to Go (their defaults are outside the repo too).
set -euo pipefail

# shellcheck source=hack/lib/paths.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/paths.sh"

NICE_LEVEL="${EVIDENT_NICE:-10}"
# VCS stamping would shell out to git for the wrapper modules; versions come
# from ldflags and go.mod instead.
export GOFLAGS="${GOFLAGS:+${GOFLAGS} }-buildvcs=false"

log() { printf 'build-control-plane: %s\n' "$*"; }
die() { printf 'build-control-plane: error: %s\n' "$*" >&2; exit 1; }

gobuild() { nice -n "${NICE_LEVEL}" go "$@"; }

# all_executable FILE... : true when every file exists and is executable.
all_executable() {
  local f
  for f in "$@"; do [[ -x "${f}" ]] || return 1; done
}

# Builds into a temporary sibling folder and renames it into place, so an
# interrupted build never leaves a half-filled version folder behind. Leftovers
# of interrupted builds are removed (safe: we hold the build lock).
begin_dir() { local tmp="$1.tmp.$$"; rm -rf "$1".tmp.*; mkdir -p "${tmp}"; printf '%s' "${tmp}"; }
commit_dir() { rm -rf "$2"; mv "$1" "$2"; }

build_kubernetes() {
  local dir="${KUBERNETES_BIN_DIR}"
  if all_executable "${KUBE_APISERVER_BIN}" "${KUBE_SCHEDULER_BIN}" "${KUBE_CONTROLLER_MANAGER_BIN}" "${KUBECTL_BIN}"; then
    log "kubernetes ${KUBERNETES_VERSION}: present (${dir})"
    return
  fi
  local src="${HACK_DIR}/controlplane"
  if ! grep -q "k8s.io/kubernetes@${KUBERNETES_VERSION}'s go.mod" "${src}/go.mod"; then
    log "kubernetes ${KUBERNETES_VERSION}: go.mod is for another release; regenerating it (commit the result)"
    "${src}/generate-go-mod.sh"
  fi

  local v="${KUBERNETES_VERSION#v}" major minor
  major="${v%%.*}"
  minor="${v#*.}"; minor="${minor%%.*}"
  # The release's publication time on the module proxy: reproducible, unlike `date`.
  local info build_date
  info="$(go mod download -json "k8s.io/kubernetes@${KUBERNETES_VERSION}" | sed -n 's/^[[:space:]]*"Info": "\(.*\)",$/\1/p')"
  build_date="$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "${info}")"
  build_date="${build_date:-1970-01-01T00:00:00Z}"

  local ldflags="-s -w" key val pkg
  for kv in "gitVersion=${KUBERNETES_VERSION}" "gitMajor=${major}" "gitMinor=${minor}" \
            "gitCommit=${KUBERNETES_GIT_COMMIT:-}" "gitTreeState=clean" "buildDate=${build_date}"; do
    key="${kv%%=*}"; val="${kv#*=}"
    # component-base serves /version and --version; client-go's copy is what
    # kubectl reports as its client version.
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ldflags+=" -X ${pkg}.${key}=${val}"
    done
  done

  local tmp start=${SECONDS}
  tmp="$(begin_dir "${dir}")"
  log "kubernetes ${KUBERNETES_VERSION}: building kube-apiserver, kube-scheduler, kube-controller-manager, kubectl (one binary; cold: tens of minutes on 2 cores)"
  (cd "${src}" && gobuild build -trimpath -ldflags="${ldflags}" -o "${tmp}/evident-kube" .)
  local name
  for name in kube-apiserver kube-scheduler kube-controller-manager kubectl; do
    ln -s evident-kube "${tmp}/${name}"
  done
  commit_dir "${tmp}" "${dir}"
  log "kubernetes ${KUBERNETES_VERSION}: built in $((SECONDS - start))s: $("${KUBE_APISERVER_BIN}" --version)"
}

build_etcd() {
  local dir="${ETCD_BIN_DIR}"
  if all_executable "${ETCD_BIN}"; then
    log "etcd ${ETCD_VERSION}: present (${dir})"
    return
  fi
  local src="${HACK_DIR}/etcd"
  if ! grep -q "go.etcd.io/etcd/server/v3 ${ETCD_VERSION}\$" "${src}/go.mod"; then
    log "etcd ${ETCD_VERSION}: go.mod names another version; updating it (commit the result)"
    (cd "${src}" && go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" && go mod tidy)
  fi
  local tmp start=${SECONDS}
  tmp="$(begin_dir "${dir}")"
  log "etcd ${ETCD_VERSION}: building"
  (cd "${src}" && gobuild build -trimpath -ldflags="-s -w" -o "${tmp}/etcd" .)
  commit_dir "${tmp}" "${dir}"
  log "etcd ${ETCD_VERSION}: built in $((SECONDS - start))s: $("${ETCD_BIN}" --version | head -n1)"
}

build_kwok() {
  local dir="${KWOK_BIN_DIR}"
  if all_executable "${KWOK_BIN}" "${KWOKCTL_BIN}"; then
    log "kwok ${KWOK_VERSION}: present (${dir})"
    return
  fi
  local tmp start=${SECONDS}
  tmp="$(begin_dir "${dir}")"
  log "kwok ${KWOK_VERSION}: building kwok, kwokctl"
  # Release builds stamp consts.Version with the tag; the node stages turn it
  # into status.nodeInfo.kubeletVersion "kwok-<tag>".
  # `go install pkg@version` builds kwok with its own go.mod, as released.
  GOBIN="${tmp}" gobuild install -trimpath \
    -ldflags="-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION}" \
    "sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}" "sigs.k8s.io/kwok/cmd/kwokctl@${KWOK_VERSION}"
  commit_dir "${tmp}" "${dir}"
  log "kwok ${KWOK_VERSION}: built in $((SECONDS - start))s: $("${KWOKCTL_BIN}" --version)"
}

# fetch_gpu_operator_source DIR: fills DIR with the fake-gpu-operator tree at the pinned
# commit. A clone is tried first, bounded in time (no network must mean a quick failure, never a
# hang), and must land on the pinned commit; otherwise the archive is unpacked once its sha256
# matches versions.env.
fetch_gpu_operator_source() {
  local dest="$1" url="https://github.com/run-ai/fake-gpu-operator"
  if [[ "${EVIDENT_GPU_OPERATOR_CLONE:-1}" != 0 ]] && command -v git >/dev/null; then
    if GIT_TERMINAL_PROMPT=0 timeout 60 git -c http.lowSpeedLimit=1000 -c http.lowSpeedTime=10 \
         clone --quiet --depth 1 --branch "${FAKE_GPU_OPERATOR_VERSION}" "${url}" "${dest}" 2>/dev/null \
       && [[ "$(git -C "${dest}" rev-parse HEAD)" == "${FAKE_GPU_OPERATOR_COMMIT}" ]]; then
      rm -rf "${dest}/.git"
      log "fake-gpu-operator ${FAKE_GPU_OPERATOR_VERSION}: source cloned from ${url} (${FAKE_GPU_OPERATOR_COMMIT})"
      return
    fi
    rm -rf "${dest}"
    log "fake-gpu-operator ${FAKE_GPU_OPERATOR_VERSION}: no clone of ${url} at ${FAKE_GPU_OPERATOR_COMMIT}; using the archive"
  fi
  local archive="${EVIDENT_THIRD_PARTY}/${FAKE_GPU_OPERATOR_ARCHIVE}" sum
  [[ -r "${archive}" ]] || die "fake-gpu-operator source: ${archive} not found (set EVIDENT_THIRD_PARTY to the folder that holds ${FAKE_GPU_OPERATOR_ARCHIVE})"
  sum="$(sha256sum "${archive}")"; sum="${sum%% *}"
  [[ "${sum}" == "${FAKE_GPU_OPERATOR_SHA256}" ]] \
    || die "fake-gpu-operator source: ${archive} has sha256 ${sum}, hack/versions.env pins ${FAKE_GPU_OPERATOR_SHA256}"
  mkdir -p "${dest}"
  tar -xzf "${archive}" -C "${dest}" --strip-components=1 --no-same-owner
  log "fake-gpu-operator ${FAKE_GPU_OPERATOR_VERSION}: source unpacked from ${archive} (sha256 ok)"
}

build_gpu_operator() {
  local dir="${FAKE_GPU_OPERATOR_BIN_DIR}" bins=() c
  for c in "${FAKE_GPU_OPERATOR_COMMANDS[@]}"; do bins+=("${dir}/${c}"); done
  if all_executable "${bins[@]}" "${GPU_OPERATOR_CHART_BIN}" && [[ -f "${FAKE_GPU_OPERATOR_CHART}/values.yaml" ]]; then
    log "fake-gpu-operator ${FAKE_GPU_OPERATOR_VERSION}: present (${dir})"
    return
  fi
  local tmp start=${SECONDS}
  tmp="$(begin_dir "${dir}")"
  fetch_gpu_operator_source "${tmp}/src"
  log "fake-gpu-operator ${FAKE_GPU_OPERATOR_VERSION}: building ${FAKE_GPU_OPERATOR_COMMANDS[*]} (cold: about 2 min on 2 cores)"
  # Upstream's Makefile builds each cmd/ with plain `go build`; its go.mod and go.sum pin every
  # dependency, all of which the module proxy serves.
  local pkgs=()
  for c in "${FAKE_GPU_OPERATOR_COMMANDS[@]}"; do pkgs+=("./cmd/${c}"); done
  (cd "${tmp}/src" && gobuild build -trimpath -ldflags="-s -w" -o "${tmp}/" "${pkgs[@]}")
  # The chart renderer: Helm's template engine (helm.sh/helm/v3 from the module proxy, pinned in
  # its go.mod, with the operator's k8s.io versions so the two builds share compiled packages).
  (cd "${HACK_DIR}/gpu-operator-chart" && gobuild build -trimpath -ldflags="-s -w" -o "${tmp}/gpu-operator-chart" .)
  commit_dir "${tmp}" "${dir}"
  log "fake-gpu-operator ${FAKE_GPU_OPERATOR_VERSION}: built in $((SECONDS - start))s"
}

main() {
  # The official Go tarball's place, for shells whose PATH lacks it (CI, sudo).
  if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then PATH="/usr/local/go/bin:${PATH}"; fi
  command -v go >/dev/null || die "go is not on PATH (Go >= 1.26 is needed)"
  local components=("$@")
  (( ${#components[@]} > 0 )) || components=(kubernetes etcd kwok gpu-operator)

  mkdir -p "${EVIDENT_BIN}"
  # One build at a time per cache: two would race on the same folders.
  exec 9>"${EVIDENT_BIN}/.build.lock"
  flock 9

  local start=${SECONDS} c
  log "cache ${EVIDENT_BIN}; $(go version)"
  for c in "${components[@]}"; do
    case "${c}" in
      kubernetes) build_kubernetes ;;
      etcd) build_etcd ;;
      kwok) build_kwok ;;
      gpu-operator) build_gpu_operator ;;
      *) die "unknown component '${c}' (kubernetes, etcd, kwok, gpu-operator)" ;;
    esac
  done
  log "done in $((SECONDS - start))s"
}

main "$@"
