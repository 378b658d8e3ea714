#!/usr/bin/env python3
"""Reads a run's Parquet segments with pyarrow and with DuckDB and checks both agree with run.json.

Usage: python3 check_parquet.py <run_dir>

Prints one line per table and reader: `<reader> <table> <rows>`. Exits 1 if a reader's count
differs from the manifest's row_counts or a file carries no evident metadata, 2 on bad usage.
Readers that are not installed are reported as skipped (with the reason), not as passed.
"""

import glob
import json
import os
import sys


def main(argv):
    if len(argv) != 2 or not os.path.isfile(os.path.join(argv[1], "run.json")):
        print("usage: check_parquet.py <run_dir containing run.json>", file=sys.stderr)
        return 2
    run_dir = argv[1]
    with open(os.path.join(run_dir, "run.json"), encoding="utf-8") as handle:
        expected = json.load(handle)["row_counts"]
    tables = sorted(expected)
    failures = 0
    checked = 0

    try:
        import pyarrow.parquet as pq
    except ImportError as error:
        print(f"pyarrow skipped: {error}")
    else:
        checked += 1
        for table in tables:
            rows = 0
            for path in sorted(glob.glob(os.path.join(run_dir, table, "*.parquet"))):
                parquet = pq.ParquetFile(path)
                metadata = parquet.metadata.metadata or {}
                if b"evident.schema_version" not in metadata or b"evident.first_seq" not in metadata:
                    print(f"pyarrow {path}: missing evident metadata", file=sys.stderr)
                    failures += 1
                rows += parquet.metadata.num_rows
            print(f"pyarrow {table} {rows}")
            if rows != expected[table]:
                print(f"pyarrow {table}: {rows} rows, run.json says {expected[table]}", file=sys.stderr)
                failures += 1

    try:
        import duckdb
    except ImportError as error:
        print(f"duckdb skipped: {error}")
    else:
        checked += 1
        connection = duckdb.connect()
        for table in tables:
            files = sorted(glob.glob(os.path.join(run_dir, table, "*.parquet")))
            rows = 0
            if files:
                rows = connection.execute("SELECT count(*) FROM read_parquet(?)", [files]).fetchone()[0]
            print(f"duckdb {table} {rows}")
            if rows != expected[table]:
                print(f"duckdb {table}: {rows} rows, run.json says {expected[table]}", file=sys.stderr)
                failures += 1

    if checked == 0:
        print("no reader available: install pyarrow or duckdb", file=sys.stderr)
        return 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
