# evident: developer entry points. `make` (or `make help`) lists them.
#
# The local control plane (kube-apiserver, kube-scheduler, kube-controller-manager
# v1.36, etcd, KWOK) is built from Go modules into $(EVIDENT_CACHE), outside the
# repository; see hack/README.md.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

EVIDENT_CACHE ?= $(HOME)/.cache/evident
export EVIDENT_CACHE

# The GPU layer of the local cluster (hack/cluster.sh): `operator` (default) runs run.ai's
# fake-gpu-operator beside the control plane, whose device plugin advertises the fleet's GPUs and
# whose status exporter serves DCGM metrics on :9400; `manifests` writes nvidia.com/gpu into the
# node manifests instead (the fallback, no operator, no metrics).
GPU_LAYER ?= operator
export GPU_LAYER

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_.-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# --- Local control plane ---

.PHONY: control-plane
control-plane: ## Build kube-apiserver/scheduler/controller-manager, kubectl, etcd, kwok and the fake-gpu-operator into the cache, ~/.cache/evident by default (only what is missing)
	hack/build-control-plane.sh

.PHONY: cluster-up
cluster-up: ## Start (or reuse) the local cluster "evident" and its GPU layer (GPU_LAYER: operator by default); prints its KUBECONFIG
	hack/cluster.sh up

.PHONY: cluster-down
cluster-down: ## Stop the local cluster and the fake-gpu-operator, and delete their state
	hack/cluster.sh down

.PHONY: cluster-status
cluster-status: ## Check that every component of the local cluster and of its GPU layer is healthy
	hack/cluster.sh status

# --- evident ---

CARGO_TARGET_DIR ?= $(EVIDENT_CACHE)/target
export CARGO_TARGET_DIR
# demo and test share cargo's dev profile (dependencies optimised, evident's crates incremental;
# see Cargo.toml), so the dependency stack is compiled once for both. The fully optimised binary
# is `cargo build --release`.
EVIDENT := $(CARGO_TARGET_DIR)/debug/evident
ifeq ($(GPU_LAYER),manifests)
SCENARIO ?= manifests/scenarios/lesson1-manifest-gpus.yaml
DEMO_METRICS :=
else
SCENARIO ?= manifests/scenarios/lesson1.yaml
# The fake-gpu-operator's KWOK status exporter (its port is fixed in its code).
DEMO_METRICS := --metrics http://127.0.0.1:9400/metrics --metrics-interval 1s
endif

.PHONY: evident
evident: ## Build the evident binary (dev profile, dependencies optimised; the build cache lives in the cache folder)
	cargo build --workspace --bins

.PHONY: demo
demo: phase1-up phase1-demo phase1-evidence ## The main job: cluster up, lesson-1 scenarios recorded, report written

.PHONY: phase1-up
phase1-up: ## Notebook step 1: build what is missing (control plane and evident, side by side) and bring the local cluster up
	hack/build.sh build --workspace --bins
	hack/cluster.sh up >/dev/null

.PHONY: phase1-demo
phase1-demo: evident ## Notebook step 2: run $(SCENARIO) on the local cluster while recording, with the operator's DCGM metrics (exit 1 if an expectation fails)
	@# --replace-namespaces: this is the checkout's own throwaway cluster, where the tests also
	@# create the lesson's namespaces (without evident's run label); on any other cluster,
	@# `evident run` refuses to delete a namespace it did not create.
	@# --local: the checkout's own cluster (hack/cluster.sh), brought up if it is down; evident
	@# itself never falls back to it (without --local it uses the kubeconfig, as kubectl does).
	@# The operator's KWOK status exporter never drops a GPU's series when the GPU changes hands:
	@# the previous demo's pods go first, then the exporter starts anew and serves only this run's.
	if [[ "$(GPU_LAYER)" == operator ]]; then hack/gpu-operator.sh restart-exporter gpu-demo; fi
	$(EVIDENT) run $(SCENARIO) --local --keep --replace-namespaces $(DEMO_METRICS)

.PHONY: phase1-evidence
phase1-evidence: evident ## Notebook step 3: rebuild the report of the newest run from its recording
	run="$$(ls -1d evidence/k8s-* 2>/dev/null | sort | tail -1)"; \
	if [[ -z "$$run" ]]; then echo "no run under evidence/; run: make phase1-demo" >&2; exit 2; fi; \
	$(EVIDENT) report "$$run"; \
	echo "report: $$run/report.md"

# Tests that cannot run here say why in this file (evident_testkit::skip); `make test` lists them
# at the end, passed or failed. With EVIDENT_NO_SKIP=1 (CI) a skip fails its test instead.
SKIP_LOG := $(CARGO_TARGET_DIR)/evident-skips.log

# --tests: every target with `test = true`, i.e. each crate's unit tests and its one integration
# binary (plus the evident binary the CLI tests run). Doctests and examples are left out of this
# build (each doctest is one more executable linking DataFusion); `make lint` checks that examples
# and benches compile.
.PHONY: test
test: ## Run every test: unit, SQL expectations, end-to-end against the real local cluster
	hack/build.sh test --workspace --tests --no-run
	CHROMIUM="$$(hack/chromium.sh)" && if [[ -n "$$CHROMIUM" ]]; then export CHROMIUM; fi && \
	EVIDENT_PYTHON="$$(hack/python-env.sh)" && export EVIDENT_PYTHON && \
	hack/cluster.sh up >/dev/null && \
	rm -f "$(SKIP_LOG)" && tested=1 && status=0 && \
	EVIDENT_SKIP_LOG="$(SKIP_LOG)" cargo test --workspace --tests --no-fail-fast || status=$$?; \
	if [[ -n "$${tested:-}" ]]; then hack/report-skips.sh "$(SKIP_LOG)"; else echo "test: no test ran (see the error above)" >&2; fi; \
	exit $$status

.PHONY: lint
lint: ## cargo fmt --check and clippy with warnings denied
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
