#!/usr/bin/env python3
"""Runs evident's named queries in DuckDB over the same Parquet files, to check that the numbers
agree with evident's (``--compare``) or to time them (``--bench``).

DuckDB sees the tables evident registers, built here the same way (keep in step with
crates/evident-query/src/session.rs): ``nodes``/``pods``/``events`` are every closed segment
(``<run>/<table>/part-*.parquet``, never ``*.inprogress``) with a ``run_id`` column first (the
run directory's name); ``<table>_latest`` is the last row per (run_id, uid) by seq unless its op
is DELETED or DELETED_IN_GAP; ``run`` is one row per run.json; ``metrics`` is every
``<run>/metrics/part-*.parquet`` the same way, empty when no run scraped metrics. A query runs from
``queries/duckdb/<name>.sql`` when that file exists (a dialect forced a difference; the file says
which), else from ``queries/<name>.sql`` unchanged.

A comparison of no rows compares nothing: an empty result fails unless ``--allow-empty NAME``
says that query is expected to be empty over these runs (and then rows fail it).

Usage:
  run_named_queries.py --run DIR [--run DIR ...] --compare RESULTS_DIR [--allow-empty NAME ...]
                                                                          # RESULTS_DIR/<name>.parquet from evident
  run_named_queries.py --run DIR --bench REPEATS                          # prints JSON timings

Exit codes: 0 agree (or bench done), 1 a query disagrees, 2 usage or environment error.
"""

import argparse
import datetime
import decimal
import glob
import json
import math
import os
import sys
import time

try:
    import duckdb
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
except ImportError as error:  # pragma: no cover - environment check
    print(f"error: {error.name} is missing: pip install duckdb pyarrow", file=sys.stderr)
    sys.exit(2)

TABLES = ("nodes", "pods", "events")
# The metrics table's columns (evident_core::metric::schema), for the empty table of a run that
# scraped no metrics.
METRICS_COLUMNS = (
    ("scrape_seq", "UBIGINT"), ("scraped_at", "TIMESTAMPTZ"), ("endpoint", "VARCHAR"), ("metric", "VARCHAR"),
    ("metric_type", "VARCHAR"), ("value", "DOUBLE"), ("sampled_at", "TIMESTAMPTZ"), ("node", "VARCHAR"),
    ("gpu", "VARCHAR"), ("uuid", "VARCHAR"), ("model", "VARCHAR"), ("namespace", "VARCHAR"), ("pod", "VARCHAR"),
    ("container", "VARCHAR"), ("labels", "VARCHAR"),
)
TOMBSTONES = "('DELETED', 'DELETED_IN_GAP')"
FLOAT_TOLERANCE_MS = 0.01


def sql_string(text):
    return "'" + text.replace("'", "''") + "'"


def open_runs(run_dirs):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for table in TABLES:
        parts = []
        for run_dir in run_dirs:
            run_id = os.path.basename(os.path.normpath(run_dir))
            files = sorted(glob.glob(os.path.join(run_dir, table, "part-*.parquet")))
            if files:
                listed = ", ".join(sql_string(f) for f in files)
                parts.append(f"SELECT {sql_string(run_id)} AS run_id, * FROM read_parquet([{listed}])")
        if not parts:
            raise SystemExit(f"error: no {table} segments in {run_dirs}")
        con.execute(f"CREATE VIEW {table} AS " + " UNION ALL BY NAME ".join(parts))
        con.execute(
            f"CREATE VIEW {table}_latest AS SELECT * EXCLUDE (latest_rank) FROM ("
            f"SELECT *, row_number() OVER (PARTITION BY run_id, uid ORDER BY seq DESC) AS latest_rank FROM {table}"
            f") WHERE latest_rank = 1 AND op NOT IN {TOMBSTONES}"
        )
    create_metrics_view(con, run_dirs)
    rows = []
    for run_dir in run_dirs:
        with open(os.path.join(run_dir, "run.json")) as f:
            manifest = json.load(f)
        cluster = manifest.get("cluster", {})
        rows.append({
            "run_id": os.path.basename(os.path.normpath(run_dir)),
            "started_at": manifest.get("started_at") or None,
            "stopped_at": manifest.get("stopped_at") or None,
            "stop_reason": manifest.get("stop_reason") or None,
            "server_version": cluster.get("server_version") or None,
            "kwok_version": cluster.get("kwok_version") or None,
        })
    con.register("run_manifests", pa.Table.from_pylist(rows))
    con.execute(
        "CREATE VIEW run AS SELECT run_id, CAST(started_at AS TIMESTAMPTZ) AS started_at, "
        "CAST(stopped_at AS TIMESTAMPTZ) AS stopped_at, stop_reason, server_version, kwok_version FROM run_manifests"
    )
    return con


def create_metrics_view(con, run_dirs):
    """``metrics``: every run's ``metrics/part-*.parquet`` under its run_id, or an empty table
    with the same columns when no run scraped metrics (evident registers it for every run)."""
    parts = []
    for run_dir in run_dirs:
        run_id = os.path.basename(os.path.normpath(run_dir))
        files = sorted(glob.glob(os.path.join(run_dir, "metrics", "part-*.parquet")))
        if files:
            listed = ", ".join(sql_string(f) for f in files)
            parts.append(f"SELECT {sql_string(run_id)} AS run_id, * FROM read_parquet([{listed}])")
    if not parts:
        columns = ", ".join(f"CAST(NULL AS {kind}) AS {name}" for name, kind in METRICS_COLUMNS)
        parts.append(f"SELECT CAST(NULL AS VARCHAR) AS run_id, {columns} WHERE false")
    con.execute("CREATE VIEW metrics AS " + " UNION ALL BY NAME ".join(parts))


def arrow_table(result):
    """The result as a pyarrow Table, across DuckDB versions (the method was renamed in 2.0)."""
    for method in ("to_arrow_table", "fetch_arrow_table"):
        if hasattr(result, method):
            return getattr(result, method)()
    table = result.arrow()
    return table.read_all() if hasattr(table, "read_all") else table


def query_text(queries_dir, name):
    variant = os.path.join(queries_dir, "duckdb", f"{name}.sql")
    path = variant if os.path.exists(variant) else os.path.join(queries_dir, f"{name}.sql")
    with open(path) as f:
        return f.read(), path


def normalise_column(column):
    """Python values comparable across engines: timestamps as µs since the epoch (DuckDB keeps
    µs), decimals (DuckDB's HUGEINT sums) as int or float."""
    kind = column.type
    if pa.types.is_timestamp(kind):
        column = pc.cast(column, pa.timestamp("us", tz="UTC"), safe=False)
        column = pc.cast(column, pa.int64())
    elif pa.types.is_string_view(kind) or pa.types.is_large_string(kind):
        column = pc.cast(column, pa.string())
    values = column.to_pylist()
    out = []
    for value in values:
        if isinstance(value, decimal.Decimal):
            value = int(value) if value == value.to_integral_value() else float(value)
        elif isinstance(value, datetime.datetime):
            value = int(value.timestamp() * 1_000_000)
        out.append(value)
    return out


def rows_of(table):
    columns = [normalise_column(table.column(i)) for i in range(table.num_columns)]
    return list(zip(*columns)) if columns else []


def same_value(a, b):
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is None and b is None
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=FLOAT_TOLERANCE_MS)
    return a == b


def compare(con, queries_dir, results_dir, allow_empty=()):
    names = sorted(os.path.basename(p)[: -len(".parquet")] for p in glob.glob(os.path.join(results_dir, "*.parquet")))
    if not names:
        print(f"error: no <name>.parquet results in {results_dir}", file=sys.stderr)
        return 2
    failures = 0
    for name in names:
        sql, path = query_text(queries_dir, name)
        try:
            theirs = arrow_table(con.sql(sql))
        except duckdb.Error as error:
            print(f"FAIL {name}: DuckDB cannot run {path}: {error}")
            failures += 1
            continue
        ours = pq.read_table(os.path.join(results_dir, f"{name}.parquet"))
        if ours.column_names != theirs.column_names:
            print(f"FAIL {name}: columns differ\n  evident: {ours.column_names}\n  duckdb:  {theirs.column_names}")
            failures += 1
            continue
        ours_rows, theirs_rows = rows_of(ours), rows_of(theirs)
        if len(ours_rows) != len(theirs_rows):
            print(f"FAIL {name}: evident has {len(ours_rows)} rows, duckdb {len(theirs_rows)}")
            failures += 1
            continue
        if not ours_rows and name not in allow_empty:
            print(f"FAIL {name}: both engines return no rows, so nothing was compared "
                  f"(pass --allow-empty {name} where an empty result is what the runs should give)")
            failures += 1
            continue
        if ours_rows and name in allow_empty:
            print(f"FAIL {name}: expected no rows (--allow-empty {name}), both engines return {len(ours_rows)}")
            failures += 1
            continue
        diffs = []
        for index, (a, b) in enumerate(zip(ours_rows, theirs_rows)):
            for column, x, y in zip(ours.column_names, a, b):
                if not same_value(x, y):
                    diffs.append(f"  row {index} column {column}: evident {x!r} duckdb {y!r}")
        if diffs:
            print(f"FAIL {name}: {len(diffs)} values differ\n" + "\n".join(diffs[:20]))
            failures += 1
        else:
            print(f"ok   {name}: {len(ours_rows)} rows agree ({os.path.relpath(path, queries_dir)})")
    return 1 if failures else 0


def bench(con, queries_dir, names, repeats):
    timings = {}
    for name in names:
        sql, _ = query_text(queries_dir, name)
        best = math.inf
        rows = 0
        for _ in range(repeats):
            started = time.perf_counter()
            rows = arrow_table(con.sql(sql)).num_rows
            best = min(best, time.perf_counter() - started)
        timings[name] = {"seconds": best, "rows": rows}
    print(json.dumps(timings))
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", action="append", required=True, help="a run directory (repeat for several runs)")
    parser.add_argument("--queries", default=os.path.join(os.path.dirname(__file__), "..", "..", "queries"))
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--compare", metavar="RESULTS_DIR", help="folder of evident results, <name>.parquet")
    mode.add_argument("--bench", metavar="REPEATS", type=int, help="time each query, best of REPEATS")
    parser.add_argument("--names", help="comma-separated query names (bench; default all)")
    parser.add_argument("--allow-empty", action="append", default=[], metavar="NAME",
                        help="a query expected to return no rows over these runs (compare; repeatable)")
    args = parser.parse_args()
    con = open_runs(args.run)
    if args.compare:
        return compare(con, args.queries, args.compare, set(args.allow_empty))
    names = args.names.split(",") if args.names else sorted(
        os.path.basename(p)[:-4] for p in glob.glob(os.path.join(args.queries, "*.sql")))
    return bench(con, args.queries, names, args.bench)


if __name__ == "__main__":
    sys.exit(main())
