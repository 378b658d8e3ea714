#!/usr/bin/env bash
# Creates (once) the Python environment the independent-reader tests use: DuckDB and pyarrow
# from PyPI, in a venv under the cache so nothing lands in the repository.
# Prints the venv's python path on stdout.
set -euo pipefail
cache="${EVIDENT_CACHE:-$HOME/.cache/evident}"
venv="$cache/venv-readers"
duckdb_version="2.0.1"
pyarrow_version="26.0.1"
stamp="$venv/.evident-duckdb-$duckdb_version-pyarrow-$pyarrow_version"
if [[ ! -f "$stamp" ]]; then
  echo "python-env: installing duckdb $duckdb_version and pyarrow $pyarrow_version into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "duckdb==$duckdb_version" "pyarrow==$pyarrow_version" >&2
  touch "$stamp"
fi
echo "$venv/bin/python"
