"""Serving latency of exported models: a study on the generated demo log, each neural model's best
trial exported (`crossboard export`), onnxruntime's p50/p99 on this CPU for 1 row and 1,000 rows
beside the leaderboard's own latency column (torch, the test split scored in batches).

    python -m benchmarks.export_latency --out benchmarks/results/export_latency.json
    python -m benchmarks.export_latency --table benchmarks/results/export_latency.json
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from automl.data.demo import demo_frame
from benchmarks.saved import parser_for, run_or_table

MODELS = ("lr", "fm", "deepfm", "wide_deep", "dcnv2", "autoint", "xdeepfm", "din", "gbdt")


def crossboard(home: Path, *args: str) -> str:
    env = {**os.environ, "CROSSBOARD_HOME": str(home), "CROSSBOARD_DB": f"sqlite:///{home / 'crossboard.db'}"}
    done = subprocess.run([sys.executable, "-m", "automl.cli", *args], env=env, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"crossboard {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def run(rows: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        demo_frame(n_rows=rows).to_csv(home / "demo.csv", index=False)
        crossboard(home, "ingest", str(home / "demo.csv"), "--name", "demo")
        crossboard(home, "tune", "demo", "--models", ",".join(MODELS), "--trials", str(len(MODELS)), "--epochs", "3",
                   "--seeds", "0", "--workers", "1", "--name", "latency")
        board = json.loads(crossboard(home, "leaderboard", "latency", "--format", "json"))
        results = {}
        for model in MODELS:
            crossboard(home, "export", "latency", str(home / model), "--model", model)
            card = json.loads((home / model / "card.json").read_text())
            torch_ms = next(r["latency_ms_per_1k"] for r in board if r["trial"] == card["trial"])
            results[model] = {"trial": card["trial"], "onnx_ms": card["latency_ms"],
                              "leaderboard_ms_per_1k": torch_ms, "test_auc": card["test"]["auc"],
                              "onnx_bytes": (home / model / "model.onnx").stat().st_size}
    return {"rows": rows, "models": results}


def markdown(result: dict) -> str:
    lines = [("| model | 1 row p50 ms | 1 row p99 ms | 1,000 rows p50 ms | 1,000 rows p99 ms | leaderboard ms / 1k rows "
             "(torch) | model.onnx KB |"), "|---|---|---|---|---|---|---|"]
    for model, r in result["models"].items():
        one, many = r["onnx_ms"]["1_row"], r["onnx_ms"]["1000_rows"]
        lines.append(f"| {model} | {one['p50']:.3f} | {one['p99']:.3f} | {many['p50']:.2f} | {many['p99']:.2f} | "
                     f"{r['leaderboard_ms_per_1k']:.2f} | {r['onnx_bytes'] / 1024:,.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = parser_for(__doc__)
    parser.add_argument("--rows", type=int, default=20_000)
    args = parser.parse_args()
    run_or_table(args, lambda: run(args.rows), markdown)


if __name__ == "__main__":
    main()
