#!/usr/bin/env bash
# Instructions per pod change of the recorder's write path (the `to_durable_parquet_cpu`
# stage of the write_path bench), counted by valgrind's cachegrind: a figure that does not
# move with the machine's load, unlike times on a shared VM (there they move by ±30%).
#
# Runs the stage twice, for two measurement times, and divides the difference in user-space
# instructions by the difference in changes written, so the set-up (building 20,000
# synthetic pods) and Criterion's own work cancel out. Prints the total and the functions
# that cost most. Kernel work (the WAL's writes) is not counted. Takes about 3 minutes.
#
# Usage: hack/bench-instructions.sh [number of functions to list, default 15]
set -euo pipefail
top="${1:-15}"
for tool in valgrind cg_diff cg_annotate python3; do
  if ! command -v "$tool" > /dev/null; then
    echo "bench-instructions: $tool is not installed (Debian: apt-get install valgrind python3)" >&2
    exit 1
  fi
done
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${EVIDENT_CACHE:-$HOME/.cache/evident}/target}"
bench=$(cargo bench --workspace --bench write_path --no-run --message-format=json 2> /dev/null |
  python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "write_path" and m.get("executable"):
        print(m["executable"])')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for seconds in 3 12; do
  echo "bench-instructions: counting a ${seconds} s run under cachegrind..." >&2
  valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file="$work/cg.$seconds" \
    "$bench" --bench to_durable_parquet_cpu --warm-up-time 1 --measurement-time "$seconds" \
    > /dev/null 2> "$work/log.$seconds"
done
cg_diff "$work/cg.3" "$work/cg.12" > "$work/cg.diff" 2> /dev/null
cg_annotate "$work/cg.diff" > "$work/annotated" 2> /dev/null
python3 - "$work" "$top" << 'PY'
import re, sys
work, top = sys.argv[1], int(sys.argv[2])
changes = [int(re.search(r"wrote (\d+) changes", open(f"{work}/log.{s}").read()).group(1)) for s in (3, 12)]
extra = changes[1] - changes[0]
rows = [line for line in open(f"{work}/annotated") if re.match(r"^ *-?[0-9,]+ \(", line)]
print(f"{extra} more changes in the longer run")
print(f"{'instr/change':>12}  function")
for line in rows[: top + 1]:
    count, rest = line.split(None, 1)
    name = rest.split(")", 1)[1].strip()
    print(f"{int(count.replace(',', '')) / extra:12.0f}  {name[:110]}")
PY
