#!/usr/bin/env bash
# The local control plane: a real kube-apiserver, kube-scheduler,
# kube-controller-manager and etcd, plus the KWOK controller that plays the
# nodes, all started as plain processes by `kwokctl --runtime binary` from the
# binaries hack/build-control-plane.sh builds. No container runtime, no downloads.
# With it, the GPU layer: run.ai's fake-gpu-operator (hack/gpu-operator.sh), whose device
# plugin advertises nvidia.com/gpu on KWOK nodes labelled run.ai/simulated-gpu-node-pool and
# whose status exporter serves DCGM metrics on :9400/metrics.
#
#   hack/cluster.sh up          build what is missing, create (or reuse) the cluster, wait until healthy
#   hack/cluster.sh down        stop the processes and delete the cluster's files
#   hack/cluster.sh status      exit 0 when healthy; prints each check
#   hack/cluster.sh status control-plane
#                               the same for the control plane alone (not the GPU layer)
#   hack/cluster.sh env         shell lines to use it: eval "$(hack/cluster.sh env)"
#   hack/cluster.sh kubeconfig  print the kubeconfig path
#   hack/cluster.sh restart-apiserver [SECONDS]
#                               stop only kube-apiserver, keep it down SECONDS (default 5),
#                               start it again with the same command line; for recorder tests
#
# State lives under ${EVIDENT_CACHE:-$HOME/.cache/evident}/kwok/clusters/evident/;
# the kubeconfig is kubeconfig.yaml there. `up` leaves ~/.kube/config alone.
#
# Environment:
#   GPU_LAYER   operator (default): `up` also starts the fake-gpu-operator; the fleet's GPU
#               nodes carry only their pool label and get nvidia.com/gpu from its device plugin.
#               manifests: no operator (`up` stops one left running); nvidia.com/gpu is written in
#               the node manifests (manifests/fleet-manifest-gpus/). `status` checks the layer
#               the last `up` chose.
set -euo pipefail

# The processes started here run on after this script ends: see hack/lib/detach.sh.
# shellcheck source=hack/lib/detach.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/detach.sh"
close_inherited_fds

# shellcheck source=hack/lib/paths.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/paths.sh"

# kwokctl's processes, by the names of their pid files in ${CLUSTER_DIR}/pids/
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok-controller)
UP_TIMEOUT_SECONDS="${EVIDENT_UP_TIMEOUT:-180}"
GPU_LAYER="${GPU_LAYER:-operator}"
# The GPU layer the last `up` set up; kwokctl leaves other files of its folder alone.
GPU_LAYER_FILE="${CLUSTER_DIR}/gpu-layer"

log() { printf 'cluster: %s\n' "$*" >&2; }
die() { printf 'cluster: error: %s\n' "$*" >&2; exit 1; }

# kwokctl reads KWOK_* variables as defaults for its options. They make it use
# our workdir and never fetch a binary: every binary it could want is local.
kwokctl_env() {
  export KWOK_WORKDIR
  export KWOK_KUBE_VERSION="${KUBERNETES_VERSION}"
  export KWOK_RUNTIME=binary
  export KWOK_KUBECTL_BINARY="${KUBECTL_BIN}"
  export KWOK_KUBE_APISERVER_BINARY="${KUBE_APISERVER_BIN}"
  export KWOK_KUBE_CONTROLLER_MANAGER_BINARY="${KUBE_CONTROLLER_MANAGER_BIN}"
  export KWOK_KUBE_SCHEDULER_BINARY="${KUBE_SCHEDULER_BIN}"
  export KWOK_CONTROLLER_BINARY="${KWOK_BIN}"
  export KWOK_ETCD_BINARY="${ETCD_BIN}"
  # kwokctl looks kubectl up on PATH before falling back to KWOK_KUBECTL_BINARY.
  export PATH="${KUBERNETES_BIN_DIR}:${PATH}"
}

kubectl_c() { "${KUBECTL_BIN}" --kubeconfig "${CLUSTER_KUBECONFIG}" --request-timeout=5s "$@"; }

# component_pid NAME: prints the pid of a live process of this cluster, or fails.
# A pid file can outlive its process and the pid be reused, so the process must
# also run in the cluster's folder (kwokctl starts each component there).
component_pid() {
  local pidfile="${CLUSTER_DIR}/pids/$1.pid" pid cwd
  [[ -r "${pidfile}" ]] || return 1
  pid="$(<"${pidfile}")"
  [[ "${pid}" =~ ^[0-9]+$ ]] || return 1
  cwd="$(readlink "/proc/${pid}/cwd" 2>/dev/null)" || return 1
  [[ "${cwd}" == "${CLUSTER_DIR}" ]] || return 1
  printf '%s' "${pid}"
}

# lease_fresh NAME: the kube-system lease NAME has a holder that renewed it
# within the last 30 s (leases last 15 s): that component is running and leading.
lease_fresh() {
  local out holder renew now renewed
  out="$(kubectl_c -n kube-system get lease "$1" -o 'jsonpath={.spec.holderIdentity} {.spec.renewTime}' 2>/dev/null)" || return 1
  read -r holder renew <<<"${out}"
  [[ -n "${holder}" && -n "${renew}" ]] || return 1
  now="$(date +%s)"
  renewed="$(date -d "${renew}" +%s 2>/dev/null)" || return 1
  (( now - renewed < 30 ))
}

# check_health [quiet]: 0 when every component runs, the API server is ready and
# the scheduler and controller-manager lead. Prints one line per check unless quiet.
check_health() {
  local quiet="${1:-}" ok=0 c
  say() { [[ -n "${quiet}" ]] || printf '  %-30s %s\n' "$1" "$2" >&2; }
  if [[ ! -f "${CLUSTER_KUBECONFIG}" ]]; then
    say "cluster ${CLUSTER_NAME}" "absent"
    return 1
  fi
  for c in "${COMPONENTS[@]}"; do
    if pid="$(component_pid "${c}")"; then say "${c}" "running (pid ${pid})"; else say "${c}" "NOT RUNNING"; ok=1; fi
  done
  if [[ "$(kubectl_c get --raw /readyz 2>/dev/null)" == "ok" ]]; then say "apiserver /readyz" "ok"; else say "apiserver /readyz" "NOT READY"; ok=1; fi
  for c in kube-scheduler kube-controller-manager; do
    if lease_fresh "${c}"; then say "lease ${c}" "held"; else say "lease ${c}" "NOT HELD"; ok=1; fi
  done
  return "${ok}"
}

# stop_cluster: stops this cluster's processes (only those proven to be ours) and
# deletes its folder. Works for a healthy cluster and for the leftovers of one
# whose processes died with a killed session.
stop_cluster() {
  # The operator's processes talk to this cluster's API server: they go with it.
  "${HACK_DIR}/gpu-operator.sh" down
  local c pid pids=()
  for c in "${COMPONENTS[@]}"; do
    if pid="$(component_pid "${c}")"; then pids+=("${pid}"); fi
  done
  if (( ${#pids[@]} > 0 )); then
    log "stopping ${#pids[@]} process(es): ${pids[*]}"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    local waited=0
    while (( waited < 100 )); do
      local alive=0
      for pid in "${pids[@]}"; do kill -0 "${pid}" 2>/dev/null && alive=1; done
      (( alive )) || break
      sleep 0.1; waited=$((waited + 1))
    done
    for pid in "${pids[@]}"; do kill -KILL "${pid}" 2>/dev/null || true; done
  fi
  rm -rf "${CLUSTER_DIR}"
}

# gpu_layer_up: starts the fake-gpu-operator (GPU_LAYER=operator) or makes sure none runs
# (GPU_LAYER=manifests), and records the choice for `status`.
gpu_layer_up() {
  case "${GPU_LAYER}" in
    operator) "${HACK_DIR}/gpu-operator.sh" up ;;
    manifests) "${HACK_DIR}/gpu-operator.sh" down ;;
  esac
  printf '%s\n' "${GPU_LAYER}" >"${GPU_LAYER_FILE}"
}

cmd_up() {
  local start=${SECONDS}
  case "${GPU_LAYER}" in
    operator | manifests) ;;
    *) die "GPU_LAYER must be operator or manifests, not '${GPU_LAYER}'" ;;
  esac
  if [[ "${GPU_LAYER}" == operator ]]; then
    "${HACK_DIR}/build-control-plane.sh"
  else
    "${HACK_DIR}/build-control-plane.sh" kubernetes etcd kwok
  fi
  kwokctl_env

  if check_health quiet; then
    log "cluster ${CLUSTER_NAME} is already up and healthy"
    gpu_layer_up
    print_env_hint
    return
  fi
  if [[ -e "${CLUSTER_DIR}" ]]; then
    log "cluster ${CLUSTER_NAME} exists but is not healthy (stale from an earlier session?); recreating it"
    check_health || true
    stop_cluster
  fi

  log "creating cluster ${CLUSTER_NAME} in ${CLUSTER_DIR}"
  # --kubeconfig "": do not add a context to ~/.kube/config; ours is in CLUSTER_DIR.
  "${KWOKCTL_BIN}" create cluster \
    --name "${CLUSTER_NAME}" \
    --runtime binary \
    --kubeconfig "" \
    --quiet-pull \
    --kube-apiserver-binary "${KUBE_APISERVER_BIN}" \
    --kube-controller-manager-binary "${KUBE_CONTROLLER_MANAGER_BIN}" \
    --kube-scheduler-binary "${KUBE_SCHEDULER_BIN}" \
    --kwok-controller-binary "${KWOK_BIN}" \
    --etcd-binary "${ETCD_BIN}" \
    --wait "${UP_TIMEOUT_SECONDS}s" \
    || { log "kwokctl failed; component logs are in ${CLUSTER_DIR}/logs"; exit 1; }

  log "waiting for the API server, scheduler and controller-manager"
  local deadline=$((SECONDS + UP_TIMEOUT_SECONDS))
  until check_health quiet; do
    if (( SECONDS >= deadline )); then
      check_health || true
      die "cluster not healthy after ${UP_TIMEOUT_SECONDS}s; logs: ${CLUSTER_DIR}/logs"
    fi
    sleep 1
  done
  log "cluster ${CLUSTER_NAME} is up ($((SECONDS - start))s): $(kubectl_c version -o json | sed -n 's/.*"gitVersion": "\(v[^"]*\)".*/\1/p' | tail -n1)"
  gpu_layer_up
  print_env_hint
}

print_env_hint() {
  log "use it with:"
  printf 'export KUBECONFIG=%s\n' "${CLUSTER_KUBECONFIG}"
}

cmd_down() {
  if [[ ! -e "${CLUSTER_DIR}" ]]; then
    "${HACK_DIR}/gpu-operator.sh" down
    log "cluster ${CLUSTER_NAME} does not exist"
    return
  fi
  stop_cluster
  log "cluster ${CLUSTER_NAME} deleted"
}

cmd_status() {
  log "cluster ${CLUSTER_NAME} (${CLUSTER_DIR})"
  local ok=0
  check_health || ok=1
  if [[ "${1:-}" == control-plane ]]; then
    return "${ok}"
  fi
  local layer=""
  [[ -r "${GPU_LAYER_FILE}" ]] && layer="$(<"${GPU_LAYER_FILE}")"
  case "${layer}" in
    operator)
      log "GPU layer: fake-gpu-operator ${FAKE_GPU_OPERATOR_VERSION} (${GPU_OPERATOR_DIR})"
      "${HACK_DIR}/gpu-operator.sh" status || ok=1 ;;
    manifests) log "GPU layer: node manifests (GPU_LAYER=manifests; no operator)" ;;
    *) [[ ! -f "${CLUSTER_KUBECONFIG}" ]] || { log "GPU layer: not set up (run: hack/cluster.sh up)"; ok=1; } ;;
  esac
  if (( ok == 0 )); then
    log "healthy"
  else
    log "not healthy"
    return 1
  fi
}

cmd_env() {
  printf 'export KUBECONFIG=%q\n' "${CLUSTER_KUBECONFIG}"
  # shellcheck disable=SC2016 # $PATH is for the shell that evals this
  printf 'export PATH=%q:"$PATH"\n' "${KUBERNETES_BIN_DIR}"
}

# snapshot_component NAME DIR: saves the argv and environment of a running component,
# so it can be started again exactly as kwokctl started it.
snapshot_component() {
  local pid
  pid="$(component_pid "$1")" || return 1
  cp "/proc/${pid}/cmdline" "$2/$1.cmdline"
  tr '\0' '\n' <"/proc/${pid}/environ" | grep -v '^$' >"$2/$1.environ" || true
}

# relaunch_component NAME DIR: starts a component from its snapshot, in the cluster's folder.
relaunch_component() {
  local argv=() environment=()
  mapfile -d '' -t argv <"$2/$1.cmdline"
  mapfile -t environment <"$2/$1.environ"
  (
    cd "${CLUSTER_DIR}"
    env -i "${environment[@]}" setsid "${argv[@]}" >>"${CLUSTER_DIR}/logs/$1.log" 2>&1 </dev/null &
    echo $! >"${CLUSTER_DIR}/pids/$1.pid"
  )
}

# cmd_restart_apiserver SECONDS: the API server dies (SIGKILL, as in a crash) and comes
# back SECONDS later exactly as kwokctl started it. Components that exit because they
# lost their leader lease meanwhile are started again, as a kubelet would restart them.
cmd_restart_apiserver() {
  local down="${1:-5}" pid snapshot c
  pid="$(component_pid kube-apiserver)" || die "kube-apiserver of ${CLUSTER_NAME} is not running; run: hack/cluster.sh up"
  snapshot="$(mktemp -d)"
  for c in "${COMPONENTS[@]}"; do snapshot_component "${c}" "${snapshot}" || die "${c} is not running; run: hack/cluster.sh up"; done
  log "killing kube-apiserver (pid ${pid}); down for ${down}s"
  kill -KILL "${pid}"
  while kill -0 "${pid}" 2>/dev/null; do sleep 0.1; done
  sleep "${down}"
  relaunch_component kube-apiserver "${snapshot}"
  local deadline=$((SECONDS + 60))
  until [[ "$(kubectl_c get --raw /readyz 2>/dev/null)" == "ok" ]]; do
    (( SECONDS < deadline )) || die "kube-apiserver not ready 60s after restart; see ${CLUSTER_DIR}/logs/kube-apiserver.log"
    sleep 0.5
  done
  log "kube-apiserver is back (pid $(<"${CLUSTER_DIR}/pids/kube-apiserver.pid")); waiting for the cluster to be healthy"
  deadline=$((SECONDS + 90))
  until check_health quiet; do
    for c in "${COMPONENTS[@]}"; do
      if ! component_pid "${c}" >/dev/null; then
        log "${c} exited while the API server was down; starting it again"
        relaunch_component "${c}" "${snapshot}"
      fi
    done
    (( SECONDS < deadline )) || { check_health || true; die "cluster not healthy 90s after the API server restart"; }
    sleep 1
  done
  rm -rf "${snapshot}"
  # The operator's processes may have given up while the API server was away.
  if [[ -r "${GPU_LAYER_FILE}" && "$(<"${GPU_LAYER_FILE}")" == operator ]]; then "${HACK_DIR}/gpu-operator.sh" up; fi
  log "cluster ${CLUSTER_NAME} healthy again"
}

main() {
  case "${1:-}" in
    restart-apiserver) cmd_restart_apiserver "${2:-5}" ;;
    up) cmd_up ;;
    down) cmd_down ;;
    status)
      case "${2:-}" in
        ""|control-plane) cmd_status "${2:-}" ;;
        *) die "status: unknown part '${2}' (status, or status control-plane)" ;;
      esac ;;
    env) cmd_env ;;
    kubeconfig) printf '%s\n' "${CLUSTER_KUBECONFIG}" ;;
    *) sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
  esac
}

main "$@"
