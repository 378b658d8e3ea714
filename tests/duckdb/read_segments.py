#!/usr/bin/env python3
"""Prints every row of one table of a run as read by pyarrow or by DuckDB, straight from the
Parquet segments (``<run>/<table>/part-*.parquet``, never ``*.inprogress``), one JSON object
per line in seq order, so a test can compare the values each reader sees with evident's.

Values: timestamps as integer nanoseconds since the epoch (UTC), integers and booleans as
such, strings as written, NULL as null.

Usage:
  read_segments.py --run DIR --table pods --reader pyarrow|duckdb

Exit codes: 0 printed, 2 usage or environment error.
"""

import argparse
import glob
import json
import os
import sys

try:
    import duckdb
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
except ImportError as error:  # pragma: no cover - environment check
    print(f"error: {error.name} is missing: pip install duckdb pyarrow", file=sys.stderr)
    sys.exit(2)


def with_pyarrow(files):
    table = pa.concat_tables([pq.read_table(f) for f in files])
    columns = {}
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_timestamp(column.type):
            column = pc.cast(pc.cast(column, pa.timestamp("ns", tz="UTC")), pa.int64())
        columns[name] = column.to_pylist()
    return table.column_names, columns


def with_duckdb(files):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    source = f"read_parquet([{listed}])"
    described = con.sql(f"DESCRIBE SELECT * FROM {source}").fetchall()
    names = [row[0] for row in described]
    selects = [f'epoch_ns("{name}")' if kind.startswith("TIMESTAMP") else f'"{name}"' for name, kind, *_ in described]
    rows = con.sql(f"SELECT {', '.join(selects)} FROM {source}").fetchall()
    return names, {name: [row[i] for row in rows] for i, name in enumerate(names)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a run directory")
    parser.add_argument("--table", required=True, help="nodes, pods, events or metrics")
    parser.add_argument("--reader", required=True, choices=("pyarrow", "duckdb"))
    args = parser.parse_args()
    files = sorted(glob.glob(os.path.join(args.run, args.table, "part-*.parquet")))
    if not files:
        print(f"error: no {args.table} segments in {args.run}", file=sys.stderr)
        return 2
    names, columns = (with_pyarrow if args.reader == "pyarrow" else with_duckdb)(files)
    rows = [dict(zip(names, values)) for values in zip(*(columns[name] for name in names))]
    rows.sort(key=lambda row: row["seq"])
    out = sys.stdout
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
