# shellcheck shell=bash disable=SC2034 # variables for the scripts that source this
# Paths shared by hack/*.sh. Source it; it defines variables only.
#
# Everything built or run lives under EVIDENT_CACHE (default ~/.cache/evident),
# never in the repository:
#   bin/kubernetes-<v>/  evident-kube + symlinks kube-apiserver, kube-scheduler,
#                        kube-controller-manager, kubectl
#   bin/etcd-<v>/etcd
#   bin/kwok-<v>/        kwok (the controller), kwokctl
#   bin/fake-gpu-operator-<v>/  kwok-gpu-device-plugin, status-updater,
#                        status-exporter-kwok, and src/ (the tree they were built from,
#                        whose Helm chart configures them)
#   kwok/                kwokctl's workdir (KWOK_WORKDIR): clusters/<name>/...
#   gpu-operator/<name>/ the operator's processes for cluster <name>: pids/, logs/, rendered/

HACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=hack/versions.env
source "${HACK_DIR}/versions.env"

EVIDENT_CACHE="${EVIDENT_CACHE:-${HOME}/.cache/evident}"
EVIDENT_BIN="${EVIDENT_CACHE}/bin"

KUBERNETES_BIN_DIR="${EVIDENT_BIN}/kubernetes-${KUBERNETES_VERSION}"
ETCD_BIN_DIR="${EVIDENT_BIN}/etcd-${ETCD_VERSION}"
KWOK_BIN_DIR="${EVIDENT_BIN}/kwok-${KWOK_VERSION}"

KUBE_APISERVER_BIN="${KUBERNETES_BIN_DIR}/kube-apiserver"
KUBE_SCHEDULER_BIN="${KUBERNETES_BIN_DIR}/kube-scheduler"
KUBE_CONTROLLER_MANAGER_BIN="${KUBERNETES_BIN_DIR}/kube-controller-manager"
KUBECTL_BIN="${KUBERNETES_BIN_DIR}/kubectl"
ETCD_BIN="${ETCD_BIN_DIR}/etcd"
KWOK_BIN="${KWOK_BIN_DIR}/kwok"
KWOKCTL_BIN="${KWOK_BIN_DIR}/kwokctl"

FAKE_GPU_OPERATOR_BIN_DIR="${EVIDENT_BIN}/fake-gpu-operator-${FAKE_GPU_OPERATOR_VERSION}"
# The operator's commands run here (hack/gpu-operator.sh); topology-server is not needed by them.
FAKE_GPU_OPERATOR_COMMANDS=(kwok-gpu-device-plugin status-updater status-exporter-kwok)
# Its source tree, kept beside the binaries: its Helm chart (deploy/fake-gpu-operator) is what
# hack/gpu-operator.sh renders the processes' configuration from.
FAKE_GPU_OPERATOR_SRC="${FAKE_GPU_OPERATOR_BIN_DIR}/src"
FAKE_GPU_OPERATOR_CHART="${FAKE_GPU_OPERATOR_SRC}/deploy/fake-gpu-operator"
# hack/gpu-operator-chart built: renders that chart with Helm's template engine.
GPU_OPERATOR_CHART_BIN="${FAKE_GPU_OPERATOR_BIN_DIR}/gpu-operator-chart"
# Where the archive of its source sits: ../shared/third_party from the repository root, unless
# EVIDENT_THIRD_PARTY names another folder (.ci/run sets it: it tests a copy of the checkout).
EVIDENT_THIRD_PARTY="${EVIDENT_THIRD_PARTY:-$(cd "${HACK_DIR}/.." && pwd)/../shared/third_party}"

CLUSTER_NAME="${EVIDENT_CLUSTER_NAME:-evident}"
KWOK_WORKDIR="${EVIDENT_CACHE}/kwok"
CLUSTER_DIR="${KWOK_WORKDIR}/clusters/${CLUSTER_NAME}"
# kwokctl writes the cluster's admin kubeconfig here; the path depends only on
# EVIDENT_CACHE and the cluster name, so it is stable across re-creations.
CLUSTER_KUBECONFIG="${CLUSTER_DIR}/kubeconfig.yaml"
# The fake-gpu-operator's processes for this cluster (hack/gpu-operator.sh). Kept outside
# CLUSTER_DIR: kwokctl owns that folder and deletes it on re-creation.
GPU_OPERATOR_DIR="${EVIDENT_CACHE}/gpu-operator/${CLUSTER_NAME}"
