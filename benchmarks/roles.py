"""Role inference on the public datasets in ``../shared/data``: every column's inferred role against
the role its documentation and the reference configurations give it (DeepCTR's examples for the
Criteo, Avazu and MovieLens samples; BARS/FuxiCTR's dataset configs for Frappe_x1 and the Taobao
sample; the DIN preprocessing for Amazon Electronics; the GroupLens README for ML-100K).

    python -m benchmarks.roles --out benchmarks/results/roles.json
    python -m benchmarks.roles --table benchmarks/results/roles.json

An expected role may allow more than one answer: ``user``/``item`` where the configs only say
categorical (the CF roles are categorical fields that also name the two sides), and ``ignore`` for a
column that is empty or constant in the sample (a field with one value teaches nothing).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from automl.data.datasets import inspect
from automl.data.infer_schema import infer_schema
from benchmarks.saved import parser_for, run_or_table

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CAT = {"categorical"}

CRITEO = {"label": {"label"}, **{f"I{k}": {"numeric"} for k in range(1, 14)},
          **{f"C{k}": CAT for k in range(1, 27)}}
AVAZU = {"id": {"ignore"}, "click": {"label"}, "hour": {"timestamp"},
         **{c: CAT for c in ("C1", "banner_pos", "site_id", "site_domain", "site_category", "app_domain",
                             "app_category", "device_id", "device_ip", "device_model", "device_type",
                             "device_conn_type", "C14", "C15", "C16", "C17", "C18", "C19", "C20", "C21")},
         "app_id": {"categorical", "item"}}
MOVIELENS_1M = {"user_id": {"user"}, "movie_id": {"item"}, "rating": {"label"}, "timestamp": {"timestamp"},
                "title": {"ignore"}, "genres": {"sequence"}, "gender": CAT, "age": CAT, "occupation": CAT,
                "zip": CAT}
TAOBAO = {"clk": {"label"}, "time_stamp": {"timestamp"}, "userid": {"user"}, "adgroup_id": {"item"},
          **{c: CAT for c in ("pid", "cate_id", "campaign_id", "customer", "brand", "cms_segid", "cms_group_id",
                              "final_gender_code", "age_level", "pvalue_level", "shopping_level", "occupation")},
          "new_user_class_level": {"categorical", "ignore"},        # empty in the sample
          "price": {"numeric"}, "click_sequence": {"sequence"}}
AMAZON = {"user_id": {"user"}, "item_id": {"item"}, "time": {"timestamp"}, "cate_id": CAT}
FRAPPE = {"label": {"label"}, "user": {"user"}, "item": {"item"},
          **{c: CAT for c in ("daytime", "weekday", "isweekend", "homework", "cost", "weather", "country", "city")}}
FRAPPE_LIBFM = {"label": {"label"}, **{f"f{k}": CAT for k in range(1, 11)}}
ML100K_DATA = {"user_id": {"user"}, "item_id": {"item"}, "rating": {"label"}, "timestamp": {"timestamp"}}
ML100K_USER = {"user_id": {"user"}, "age": {"numeric"}, "gender": CAT, "occupation": CAT, "zip": CAT,
               "click": {"label"}}

# (name, path under shared/data, reader options, expected roles)
DATASETS = [
    ("Criteo (DeepCTR sample)", "deepctr-samples/criteo_sample.txt", {}, CRITEO),
    ("Avazu (DeepCTR sample)", "deepctr-samples/avazu_sample.txt", {}, AVAZU),
    ("MovieLens-1M joined (DeepCTR sample)", "deepctr-samples/movielens_sample.txt", {}, MOVIELENS_1M),
    ("Taobao display ads (FuxiCTR tiny)", "fuxictr-tiny/train_sample.csv", {}, TAOBAO),
    ("Amazon Electronics (DIN sample)", "amazon-electronics-din-sample/amazon_electronics_sample.csv", {}, AMAZON),
    ("Frappe_x1 (BARS CSV)", "frappe/Frappe_x1/valid.csv", {}, FRAPPE),
    ("Frappe (libFM)", "frappe/frappe.test.libfm", {}, FRAPPE_LIBFM),
    ("ML-100K u.data", "ml-100k-grouplens/u.data", {"names": ["user_id", "item_id", "rating", "timestamp"]},
     ML100K_DATA),
]


def ml100k_users() -> tuple[str, dict, dict[str, str]]:
    """u.user with a constant click column, so the inference sees a ctr table of user attributes."""
    frame = pd.read_csv(DATA / "ml-100k-grouplens/u.user", sep="|", names=["user_id", "age", "gender",
                                                                          "occupation", "zip"])
    schema = infer_schema(frame.assign(click=[0, 1] * (len(frame) // 2) + [0] * (len(frame) % 2)))
    return "ML-100K u.user", ML100K_USER, {c.name: c.role for c in schema.columns}


def run() -> dict:
    results = []
    for name, path, options, expected in DATASETS:
        schema = inspect(DATA / path, Path(path).name, **options).schema
        inferred = {c.name: c.role for c in schema.columns}
        reasons = {c.name: c.reason for c in schema.columns}
        results.append(entry(name, path, expected, inferred, reasons))
    name, expected, inferred = ml100k_users()
    results.append(entry(name, "ml-100k-grouplens/u.user", expected, inferred, {}))
    return {"datasets": results}


def entry(name: str, path: str, expected: dict[str, set], inferred: dict[str, str], reasons: dict) -> dict:
    columns = [{"column": c, "inferred": inferred.get(c), "expected": sorted(expected[c]),
                "right": inferred.get(c) in expected[c], "reason": reasons.get(c, "")} for c in expected]
    return {"dataset": name, "path": path, "columns": columns, "right": sum(c["right"] for c in columns),
            "total": len(columns)}


def markdown(result: dict) -> str:
    lines = ["| dataset | columns right | wrong (inferred → expected) |", "|---|---|---|"]
    for d in result["datasets"]:
        wrong = "; ".join(f"{c['column']}: {c['inferred']} → {'/'.join(c['expected'])}"
                          for c in d["columns"] if not c["right"]) or "—"
        lines.append(f"| {d['dataset']} | {d['right']} / {d['total']} | {wrong} |")
    right = sum(d["right"] for d in result["datasets"])
    total = sum(d["total"] for d in result["datasets"])
    lines.append(f"| **all** | **{right} / {total}** | |")
    return "\n".join(lines)


def main() -> None:
    parser = parser_for(__doc__)
    args = parser.parse_args()
    run_or_table(args, lambda: run(), markdown)


if __name__ == "__main__":
    main()
