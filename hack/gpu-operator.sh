#!/usr/bin/env bash
# run.ai's fake-gpu-operator on the local cluster: its KWOK device plugin (advertises
# nvidia.com/gpu on nodes labelled run.ai/simulated-gpu-node-pool), its status updater (assigns
# GPUs to pods, writes per-node topology ConfigMaps) and its KWOK status exporter (DCGM-shaped
# metrics on :9400/metrics). There are no kubelets to run the operator's pods, so its commands
# run as host processes with the cluster's admin kubeconfig, configured as the operator's Helm
# chart configures their pods: the chart (deploy/fake-gpu-operator of the built source) is
# rendered with Helm's template engine and hack/gpu-operator-chart/values.yaml, and each
# process gets the environment of its Deployment; the chart's topology ConfigMap is applied.
#
#   hack/gpu-operator.sh up      render, apply the ConfigMap, start what is not running, wait for the exporter
#   hack/gpu-operator.sh down    stop the processes and delete their folder
#   hack/gpu-operator.sh status  exit 0 when every process runs and the exporter answers; prints each check
#   hack/gpu-operator.sh restart-exporter [NAMESPACE...]
#                                delete the namespaces (waiting until their pods are gone), then stop
#                                status-exporter-kwok and start it again, so it serves only the current
#                                allocation (see below); make demo and the end-to-end test do this first
#
# The KWOK status exporter of v0.2.0 never deletes a GPU's series when the GPU changes hands,
# only when its node is deleted: a long-running exporter goes on serving the series of pods
# long gone (and a GPU's free series after a pod took it). Started anew, it lists the topology
# ConfigMaps and serves what they hold now.
#
# hack/cluster.sh runs these (up after the control plane, down and status with it); run alone
# they need the cluster up. State lives under ${EVIDENT_CACHE:-$HOME/.cache/evident}/gpu-operator/<cluster>/:
# pids/, logs/ (one log per command), rendered/ (the chart's output).
#
# The exporter's port, 9400, is fixed in its code and binds every interface: `up` fails with one
# line when another process holds it.
set -euo pipefail

# The processes started here run on after this script ends: see hack/lib/detach.sh.
# shellcheck source=hack/lib/detach.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/detach.sh"
close_inherited_fds

# shellcheck source=hack/lib/paths.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/paths.sh"

NAMESPACE=gpu-operator
# command of the operator -> the chart's Deployment that runs it (templates/<...>/deployment.yaml)
declare -A DEPLOYMENT_OF=(
  [kwok-gpu-device-plugin]=kwok-gpu-device-plugin
  [status-updater]=status-updater
  [status-exporter-kwok]=nvidia-dcgm-exporter-kwok
)
METRICS_URL="http://127.0.0.1:9400/metrics"

log() { printf 'gpu-operator: %s\n' "$*" >&2; }
die() { printf 'gpu-operator: error: %s\n' "$*" >&2; exit 1; }

kubectl_c() { "${KUBECTL_BIN}" --kubeconfig "${CLUSTER_KUBECONFIG}" --request-timeout=10s "$@"; }

# process_pid COMMAND: the pid of a live process of COMMAND started here, or fails. A pid file
# can outlive its process and the pid be reused, so the process must also run the built binary.
process_pid() {
  local pidfile="${GPU_OPERATOR_DIR}/pids/$1.pid" pid exe
  [[ -r "${pidfile}" ]] || return 1
  pid="$(<"${pidfile}")"
  [[ "${pid}" =~ ^[0-9]+$ ]] || return 1
  exe="$(readlink "/proc/${pid}/exe" 2>/dev/null)" || return 1
  [[ "${exe}" == "${FAKE_GPU_OPERATOR_BIN_DIR}/$1" ]] || return 1
  printf '%s' "${pid}"
}

metrics_answer() { curl -fsS --max-time 2 -o /dev/null "${METRICS_URL}" 2>/dev/null; }

# render: the chart's output for our values, into rendered/.
render() {
  local pairs=() c
  for c in "${FAKE_GPU_OPERATOR_COMMANDS[@]}"; do pairs+=("${c}=${DEPLOYMENT_OF[${c}]}"); done
  "${GPU_OPERATOR_CHART_BIN}" -chart "${FAKE_GPU_OPERATOR_CHART}" -values "${HACK_DIR}/gpu-operator-chart/values.yaml" \
    -namespace "${NAMESPACE}" -out "${GPU_OPERATOR_DIR}/rendered" "${pairs[@]}"
}

# start COMMAND: starts it in the background, detached, with the chart's environment for it.
start() {
  local c="$1" environment=()
  mapfile -t environment <"${GPU_OPERATOR_DIR}/rendered/${c}.env"
  (
    cd "${GPU_OPERATOR_DIR}"
    env -i PATH=/usr/bin:/bin HOME="${HOME}" KUBECONFIG="${CLUSTER_KUBECONFIG}" "${environment[@]}" \
      setsid "${FAKE_GPU_OPERATOR_BIN_DIR}/${c}" >>"${GPU_OPERATOR_DIR}/logs/${c}.log" 2>&1 </dev/null &
    echo $! >"${GPU_OPERATOR_DIR}/pids/${c}.pid"
  )
}

cmd_up() {
  [[ -f "${CLUSTER_KUBECONFIG}" ]] || die "cluster ${CLUSTER_NAME} is not up; run: hack/cluster.sh up"
  "${HACK_DIR}/build-control-plane.sh" gpu-operator >&2
  mkdir -p "${GPU_OPERATOR_DIR}/pids" "${GPU_OPERATOR_DIR}/logs"
  render
  # The status updater's reservation namespace comes from the chart (environment.resourceReservationNamespace).
  local reservation
  reservation="$(sed -n 's/^RESOURCE_RESERVATION_NAMESPACE=//p' "${GPU_OPERATOR_DIR}/rendered/status-updater.env")"
  local ns
  for ns in "${NAMESPACE}" ${reservation:+"${reservation}"}; do
    kubectl_c get namespace "${ns}" >/dev/null 2>&1 || kubectl_c create namespace "${ns}" >/dev/null
  done
  kubectl_c apply -f "${GPU_OPERATOR_DIR}/rendered/topology.yaml" >/dev/null

  local c pid started=()
  for c in "${FAKE_GPU_OPERATOR_COMMANDS[@]}"; do
    if pid="$(process_pid "${c}")"; then continue; fi
    if [[ -e "${GPU_OPERATOR_DIR}/pids/${c}.pid" ]]; then
      log "${c} had exited; last lines of its log:"
      tail -n 5 "${GPU_OPERATOR_DIR}/logs/${c}.log" >&2 || true
    fi
    if [[ "${c}" == status-exporter-kwok ]] && ss -Hltn 'sport = :9400' | grep -q .; then
      die "port 9400 is taken by another process (the status exporter's port is fixed): $(ss -Hltnp 'sport = :9400' | head -n1)"
    fi
    start "${c}"
    started+=("${c}")
  done
  local deadline=$((SECONDS + 60))
  until metrics_answer; do
    process_pid status-exporter-kwok >/dev/null || die "status-exporter-kwok exited; see ${GPU_OPERATOR_DIR}/logs/status-exporter-kwok.log"
    (( SECONDS < deadline )) || die "the status exporter does not answer on ${METRICS_URL} after 60s; see ${GPU_OPERATOR_DIR}/logs"
    sleep 0.5
  done
  for c in "${started[@]}"; do
    process_pid "${c}" >/dev/null || die "${c} exited at start; see ${GPU_OPERATOR_DIR}/logs/${c}.log"
  done
  if (( ${#started[@]} > 0 )); then
    log "fake-gpu-operator ${FAKE_GPU_OPERATOR_VERSION} started: ${started[*]}; metrics on ${METRICS_URL}"
  else
    log "fake-gpu-operator ${FAKE_GPU_OPERATOR_VERSION} already running"
  fi
}

# check_health [quiet]: 0 when every process runs and the exporter answers.
check_health() {
  local quiet="${1:-}" ok=0 c pid
  say() { [[ -n "${quiet}" ]] || printf '  %-30s %s\n' "$1" "$2" >&2; }
  for c in "${FAKE_GPU_OPERATOR_COMMANDS[@]}"; do
    if pid="$(process_pid "${c}")"; then
      say "${c}" "running (pid ${pid})"
    elif [[ -e "${GPU_OPERATOR_DIR}/pids/${c}.pid" ]]; then
      say "${c}" "CRASHED (exited; log: ${GPU_OPERATOR_DIR}/logs/${c}.log)"; ok=1
    else
      say "${c}" "NOT RUNNING"; ok=1
    fi
  done
  if metrics_answer; then say "metrics ${METRICS_URL}" "ok"; else say "metrics ${METRICS_URL}" "NOT ANSWERING"; ok=1; fi
  return "${ok}"
}

cmd_down() {
  local c pid pids=()
  for c in "${FAKE_GPU_OPERATOR_COMMANDS[@]}"; do
    if pid="$(process_pid "${c}")"; then pids+=("${pid}"); fi
  done
  if (( ${#pids[@]} > 0 )); then
    log "stopping ${#pids[@]} process(es): ${pids[*]}"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    local waited=0 alive
    while (( waited < 100 )); do
      alive=0
      for pid in "${pids[@]}"; do kill -0 "${pid}" 2>/dev/null && alive=1; done
      (( alive )) || break
      sleep 0.1; waited=$((waited + 1))
    done
    for pid in "${pids[@]}"; do kill -KILL "${pid}" 2>/dev/null || true; done
  fi
  rm -rf "${GPU_OPERATOR_DIR}"
}

# stop_pid PID: SIGTERM, up to 10 s to exit, then SIGKILL.
stop_pid() {
  local waited=0
  kill -TERM "$1" 2>/dev/null || return 0
  while kill -0 "$1" 2>/dev/null && (( waited < 100 )); do sleep 0.1; waited=$((waited + 1)); done
  kill -KILL "$1" 2>/dev/null || true
}

cmd_restart_exporter() {
  local c=status-exporter-kwok pid
  if ! pid="$(process_pid "${c}")"; then
    # Nothing stale to clear: the next `hack/cluster.sh up` starts it anew.
    log "${c} is not running; nothing to restart"
    return 0
  fi
  if (( $# > 0 )); then
    kubectl_c delete namespace --ignore-not-found --wait=true --timeout=120s "$@" >/dev/null
    # The status updater frees the pods' GPUs as they go; give it a moment to write that.
    sleep 1
  fi
  stop_pid "${pid}"
  local freed=$((SECONDS + 10))
  while ss -Hltn 'sport = :9400' | grep -q . && (( SECONDS < freed )); do sleep 0.1; done
  start "${c}"
  local deadline=$((SECONDS + 60))
  until metrics_answer; do
    process_pid "${c}" >/dev/null || die "${c} exited at start; see ${GPU_OPERATOR_DIR}/logs/${c}.log"
    (( SECONDS < deadline )) || die "the status exporter does not answer on ${METRICS_URL} after 60s"
    sleep 0.2
  done
  log "${c} restarted (pid $(process_pid "${c}"))"
}

cmd_status() {
  if check_health; then return 0; fi
  return 1
}

main() {
  case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    restart-exporter) shift; cmd_restart_exporter "$@" ;;
    *) sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
  esac
}

main "$@"
