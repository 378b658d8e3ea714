# shellcheck shell=bash disable=SC2034 # variables for the scripts that source this
# Paths shared by hack/*.sh. Source it; it defines variables only.
#
# Everything built or run lives under EVIDENT_CACHE (default ~/.cache/evident),
# never in the repository:
#   bin/kubernetes-<v>/  evident-kube + symlinks kube-apiserver, kube-scheduler,
#                        kube-controller-manager, kubectl
#   bin/etcd-<v>/etcd
#   bin/kwok-<v>/        kwok (the controller), kwokctl
#   kwok/                kwokctl's workdir (KWOK_WORKDIR): clusters/<name>/...

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

CLUSTER_NAME="${EVIDENT_CLUSTER_NAME:-evident}"
KWOK_WORKDIR="${EVIDENT_CACHE}/kwok"
CLUSTER_DIR="${KWOK_WORKDIR}/clusters/${CLUSTER_NAME}"
# kwokctl writes the cluster's admin kubeconfig here; the path depends only on
# EVIDENT_CACHE and the cluster name, so it is stable across re-creations.
CLUSTER_KUBECONFIG="${CLUSTER_DIR}/kubeconfig.yaml"
