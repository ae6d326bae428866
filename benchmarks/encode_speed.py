"""How fast CrossBoard encodes a Criteo-sized table, against a plain numpy encoding of the same
columns: a generated Criteo-like frame (26 integer-coded categorical ids with Zipf frequencies, 13
counts, some missing; ``benchmarks.diagnostics.criteo_like_frame``), its roles inferred as a user's
upload would be, split 80/10/10, then ``automl.features.encode.encode`` (vocabularies from the
training rows, numeric statistics and buckets) and, apart, the Wide & Deep pair ranking that only
studies with Wide & Deep compute (``encode.with_ranked_pairs``).

    python -m benchmarks.encode_speed --rows 500000 --out benchmarks/results/encode_speed_500k.json
    python -m benchmarks.encode_speed --table benchmarks/results/encode_speed_500k.json

The numpy baseline: ``np.unique(return_inverse=True)`` per categorical column, mean/std
standardisation per numeric column; no vocabulary limits, no buckets, no pair ranking.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from automl.data.infer_schema import infer_schema
from automl.features.encode import encode, with_ranked_pairs
from automl.features.splits import make_split
from benchmarks.diagnostics import criteo_like_frame
from benchmarks.saved import parser_for, run_or_table


def integer_coded(rows: int) -> pd.DataFrame:
    """The Criteo-like frame with its categorical ids as integers (as many public CTR logs ship them)."""
    frame = criteo_like_frame(rows)
    for j in range(1, 27):
        frame[f"C{j}"] = frame[f"C{j}"].str.split("_").str[1].astype(np.int64)
    return frame


def run(rows: int, repeats: int) -> dict:
    frame = integer_coded(rows)
    tick = time.perf_counter()
    schema = infer_schema(frame, label="click")
    infer_s = time.perf_counter() - tick
    roles = {c.name: c.role for c in schema.columns}
    assignment, _ = make_split(frame["click"].to_numpy(), "ctr", None)
    encode_s, numpy_s, rank_s = [], [], []
    for _ in range(repeats):
        tick = time.perf_counter()
        data = encode(frame, schema, assignment)
        encode_s.append(time.perf_counter() - tick)
        tick = time.perf_counter()
        with_ranked_pairs(data)
        rank_s.append(time.perf_counter() - tick)
        tick = time.perf_counter()
        for name in schema.names("categorical", "user", "item"):
            np.unique(frame[name].to_numpy(), return_inverse=True)
        for name in schema.names("numeric"):
            x = frame[name].to_numpy(dtype=np.float64)
            (np.nan_to_num(x) - np.nanmean(x)) / np.nanstd(x)
        numpy_s.append(time.perf_counter() - tick)
    return {"rows": rows, "columns": frame.shape[1], "infer_seconds": infer_s,
            "roles": {r: sum(v == r for v in roles.values()) for r in set(roles.values())},
            "encode_seconds": min(encode_s) + min(rank_s), "pair_ranking_seconds": min(rank_s),
            "numpy_seconds": min(numpy_s), "ratio": (min(encode_s) + min(rank_s)) / min(numpy_s),
            "ratio_without_ranking": min(encode_s) / min(numpy_s)}


def markdown(result: dict) -> str:
    roles = ", ".join(f"{n} {r}" for r, n in sorted(result["roles"].items()))
    header = ("| rows × columns | roles inferred | infer s | encode s | of which pair ranking s | numpy s | "
              "encode ÷ numpy | without the ranking |")
    row = (f"| {result['rows']:,} × {result['columns']} | {roles} | {result['infer_seconds']:.1f} | "
           f"{result['encode_seconds']:.2f} | {result['pair_ranking_seconds']:.2f} | {result['numpy_seconds']:.2f} | "
           f"{result['ratio']:.1f}× | {result['ratio_without_ranking']:.1f}× |")
    return f"{header}\n|---|---|---|---|---|---|---|---|\n{row}"


def main() -> None:
    parser = parser_for(__doc__)
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    run_or_table(args, lambda: run(args.rows, args.repeats), markdown)


if __name__ == "__main__":
    main()
