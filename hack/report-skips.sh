#!/usr/bin/env bash
# Prints the tests that skipped during `make test`, with their reasons, from the skip log the
# tests append to (evident_testkit::skip): a skip is never hidden behind a passing test.
# Usage: hack/report-skips.sh <skip log>
set -euo pipefail
log="${1:?usage: hack/report-skips.sh <skip log>}"
if [[ -s "$log" ]]; then
  count=$(wc -l <"$log")
  echo "skips: ${count// /} test(s) did not run here:"
  sed 's/^/  /' "$log"
else
  echo "skips: none (every test ran)"
fi
