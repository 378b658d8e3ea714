#!/usr/bin/env bash
# Mirrors a checkout into a folder by content, so a fresh clone builds with a warm cargo cache.
#
#   hack/sync-tree.sh DEST
#
# cargo decides what to rebuild by file mtimes, and a clean clone gives every file a new one,
# so every workspace crate would rebuild even when CARGO_TARGET_DIR is warm. This copies into
# DEST only the files whose content differs from DEST's copy (those get a new mtime, and cargo
# rebuilds what depends on them); unchanged files keep DEST's older mtime. Files DEST has that
# the checkout has not (tracked, or untracked and not ignored) are deleted.
set -euo pipefail

dest="${1:?usage: hack/sync-tree.sh DEST}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
git rev-parse --is-inside-work-tree >/dev/null 2>&1 || {
  echo "sync-tree: error: $(pwd) is not a git checkout (the files to copy come from git ls-files)" >&2
  exit 1
}
mkdir -p "${dest}"
dest="$(cd "${dest}" && pwd)"
[[ "${dest}" != "$(pwd)" ]] || { echo "sync-tree: error: DEST is the checkout itself" >&2; exit 1; }

declare -A wanted=()
copied=0
while IFS= read -r -d '' file; do
  [[ -f "${file}" ]] || continue # tracked but deleted in the work tree
  wanted["${file}"]=1
  if ! cmp -s "${file}" "${dest}/${file}"; then
    mkdir -p "${dest}/$(dirname "${file}")"
    rm -f "${dest}/${file}"
    cp "${file}" "${dest}/${file}"
    copied=$((copied + 1))
  fi
done < <(git ls-files -z --cached --others --exclude-standard)

removed=0
while IFS= read -r -d '' file; do
  file="${file#./}"
  if [[ -z "${wanted[${file}]:-}" ]]; then
    rm -f "${dest}/${file}"
    removed=$((removed + 1))
  fi
done < <(cd "${dest}" && find . -type f -print0)
find "${dest}" -mindepth 1 -type d -empty -delete
echo "sync-tree: ${#wanted[@]} files in ${dest}: ${copied} copied, ${removed} removed" >&2
