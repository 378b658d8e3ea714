#!/usr/bin/env bash
# Builds the control plane (hack/build-control-plane.sh, Go, niced) while cargo runs the given
# command, so on a cold machine the two builds overlap instead of running one after the other.
# Fails when either fails.
#
#   hack/build.sh build --workspace --bins           (what make demo needs)
#   hack/build.sh test --workspace --tests --no-run  (what make test needs)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

hack/build-control-plane.sh &
control_plane=$!
trap 'kill "${control_plane}" 2>/dev/null || true' EXIT
cargo "$@"
wait "${control_plane}"
trap - EXIT
