"""Hostile inputs through `crossboard ingest`, as a user would give them: each file is generated, ingested
in a fresh home under ``/usr/bin/time -v``, and its wall time, peak memory, exit status and message kept.

    python benchmarks/hostile_inputs.py --out benchmarks/results/hostile_inputs_DATE.json
    python benchmarks/hostile_inputs.py --table FILE

The cases: a CSV with a 100,000-column header; a fixed-width libFM file of 3 rows × 200,000 features; Parquet
files of 60M and 400M rows that compress to a few MB; a Parquet dictionary of one 100 kB string repeated
95,000 times (9.5 GB decoded); and, as the accepted reference, 5,000 columns × 1,000 rows.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]


def wide_csv(path: Path, columns: int, rows: int) -> None:
    """A click label, then ``columns`` - 1 small-integer columns."""
    with open(path, "w") as f:
        f.write("click," + ",".join(f"c{i}" for i in range(1, columns)) + "\n")
        f.writelines(f"{r % 2}," + ",".join(str((r * i) % 7) for i in range(1, columns)) + "\n" for r in range(rows))


def wide_libfm(path: Path) -> None:
    with open(path, "w") as f:
        f.writelines(f"{r % 2} " + " ".join(f"{i}:1" for i in range(200_000)) + "\n" for r in range(3))


def long_parquet(path: Path, rows: int) -> None:
    """``rows`` rows of three constant columns: run-length encoded to a few MB."""
    chunk = 10_000_000
    table = pa.table({"user_id": pa.repeat(pa.scalar(1), chunk), "item_id": pa.repeat(pa.scalar(2), chunk),
                      "click": pa.repeat(pa.scalar(1), chunk)})
    with pq.ParquetWriter(path, table.schema, compression="zstd") as writer:
        for _ in range(rows // chunk):
            writer.write_table(table, row_group_size=chunk)


def dictionary_bomb(path: Path) -> None:
    n = 95_000
    title = pa.DictionaryArray.from_arrays(pa.array([0] * n, pa.int32()), pa.array(["x" * 100_000]))
    pq.write_table(pa.table({"user_id": pa.array([f"u{i % 50}" for i in range(n)]),
                             "item_id": pa.array([f"i{i % 70}" for i in range(n)]),
                             "click": pa.array([i % 2 for i in range(n)]), "title": title}), path, compression="zstd")


CASES = {
    "CSV, 100,000 columns × 3 rows": ("wide.csv", lambda p: wide_csv(p, 100_000, 3)),
    "libFM, 3 rows × 200,000 features": ("wide.libfm", wide_libfm),
    "Parquet, 60M rows": ("sixty.parquet", lambda p: long_parquet(p, 60_000_000)),
    "Parquet, 400M rows": ("four_hundred.parquet", lambda p: long_parquet(p, 400_000_000)),
    "Parquet dictionary bomb (9.5 GB decoded)": ("repeated.parquet", dictionary_bomb),
    "CSV, 5,000 columns × 1,000 rows (accepted)": ("five_thousand.csv", lambda p: wide_csv(p, 5_000, 1_000)),
}


def measure(name: str, filename: str, make) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="crossboard-hostile-"))
    path = folder / filename
    make(path)
    done = subprocess.run(["/usr/bin/time", "-v", sys.executable, "-m", "automl.cli", "--home", str(folder / "home"),
                           "ingest", str(path)], cwd=ROOT, capture_output=True, text=True, check=False)
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", done.stderr)
    seconds = (int(wall.group(1) or 0) * 3600 + int(wall.group(2)) * 60 + float(wall.group(3))) if wall else None
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    message = next((line for line in done.stderr.splitlines() if line.startswith("error:")), "")
    return {"case": name, "file_bytes": path.stat().st_size, "exit": done.returncode, "seconds": seconds,
            "peak_mb": int(peak.group(1)) / 1024 if peak else None, "message": message,
            "traceback": "Traceback" in done.stderr}


def markdown(results: list[dict]) -> str:
    lines = ["| case | file | exit | wall (s) | peak memory (MB) | what the user sees |", "|---|---|---|---|---|---|"]
    for r in results:
        seen = r["message"][:160] + ("…" if len(r["message"]) > 160 else "") if r["message"] else "stored"
        lines.append(f"| {r['case']} | {r['file_bytes'] / 2**20:,.1f} MB | {r['exit']} | {r['seconds']:.2f} | "
                     f"{r['peak_mb']:,.0f} | {seen} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--table", type=Path)
    args = parser.parse_args()
    if args.table:
        print(markdown(json.loads(args.table.read_text())))
        return
    results = [measure(name, filename, make) for name, (filename, make) in CASES.items()]
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))
    print(markdown(results))


if __name__ == "__main__":
    main()
