#!/usr/bin/env bash
# Makes sure a Chromium is there for the test that renders the HTML report
# (crates/evident-report/tests/integration/html_browser.rs), installing Debian's package when
# it is missing. Prints the browser's path on stdout.
#
# Environment:
#   CHROMIUM               a browser to use instead of the one on PATH
#   EVIDENT_SKIP_BROWSER=1 no browser wanted: install nothing (the test then says it skipped)
set -euo pipefail

log() { printf 'chromium: %s\n' "$*" >&2; }

if [[ "${EVIDENT_SKIP_BROWSER:-}" == 1 ]]; then
  log "EVIDENT_SKIP_BROWSER=1: not installing a browser"
  exit 0
fi
if [[ -n "${CHROMIUM:-}" ]]; then
  [[ -x "${CHROMIUM}" ]] || { log "error: CHROMIUM=${CHROMIUM} is not an executable file"; exit 1; }
  echo "${CHROMIUM}"
  exit 0
fi
if found="$(command -v chromium)"; then
  echo "${found}"
  exit 0
fi

if [[ "$(id -u)" == 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  log "error: no chromium on PATH and no root to install it: run 'sudo apt-get install chromium' (or set CHROMIUM=/path/to/browser, or EVIDENT_SKIP_BROWSER=1 to skip the browser test)"
  exit 1
fi
command -v apt-get >/dev/null 2>&1 || {
  log "error: no chromium on PATH and no apt-get: install Chromium, then set CHROMIUM=/path/to/browser (or EVIDENT_SKIP_BROWSER=1)"
  exit 1
}
log "installing chromium from Debian (once; about a minute)"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq chromium >/dev/null
command -v chromium
