"""What the per-pair crossing choice (``pair_gates``: "off" vs "gated") buys FM, DeepFM, NFM, PNN and
Wide & Deep: a generated click log with two planted pairs (colour × shape, and device × hour with
hour numeric) and noise fields, encoded through the product (schema inference, split, encoding, the
pair ranking with numeric buckets); each model trained through the product's loop with its card's
paper defaults, numerics both raw and bucketized, the two arms differing only in ``pair_gates``;
test AUC compared on the same test rows by DeLong's paired test (each seed, and the seed-averaged
outputs), with the training seconds, and where the gated models put the planted pairs among their
gates (``pairs:gates``).

    python -m benchmarks.crossing_choice --rows 20000 --seeds 2 --out FILE
    python -m benchmarks.crossing_choice --table FILE
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch

from automl.data.infer_schema import infer_schema
from automl.data.validate import label_vector
from automl.diagnostics.trial import matrix_pairs
from automl.evaluation.comparison import paired, seed_average
from automl.evaluation.significance import paired_auc_test
from automl.features.cross_pairs import rank_pairs
from automl.features.encode import EncodedData, encode, with_ranked_pairs
from automl.features.splits import make_split
from automl.training.fit import train_and_evaluate
from benchmarks.saved import parser_for, run_or_table
from models import REGISTRY

MODELS = ["fm", "deepfm", "nfm", "pnn", "wide_deep"]
PLANTED = [["colour", "shape"], ["device", "hour"]]
GATE_L1 = 3e-3          # one value of the searched range (1e-4 .. 3e-2, log), the same for every model
ARMS = {"off": {"pair_gates": "off"}, "gated": {"pair_gates": "gated", "gate_l1": GATE_L1}}


def planted_frame(n_rows: int, seed: int = 0) -> pd.DataFrame:
    """Main effects of five fields, colour × shape (±1.2 per value pair) and device × hour (a
    device's clicks rise and fall with the hour of day, hour a number in [0, 24)); three noise fields."""
    rng = np.random.default_rng(seed)
    sizes = {"colour": 6, "shape": 5, "region": 8, "channel": 4, "device": 3, "noise_a": 9, "noise_b": 6,
             "noise_c": 12}
    codes = {name: rng.integers(0, k, n_rows) for name, k in sizes.items()}
    hour = rng.uniform(0, 24, n_rows)
    logit = np.full(n_rows, -0.4)
    for name in ("colour", "shape", "region", "channel", "device"):
        logit = logit + rng.normal(0, 0.4, sizes[name])[codes[name]]
    logit = logit + rng.choice([-1.2, 1.2], size=(6, 5))[codes["colour"], codes["shape"]]
    phase = np.array([0.0, 2.1, 4.2])[codes["device"]]
    logit = logit + 1.2 * np.sin(2 * np.pi * hour / 24 + phase)
    click = (rng.random(n_rows) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame({name: [f"{name[:2]}{v}" for v in values] for name, values in codes.items()})
    return frame.assign(hour=hour.round(2), click=click)


def encoded(frame: pd.DataFrame) -> EncodedData:
    """Schema, stratified split and encoding as a study gets them, with the pair ranking over the
    categorical fields and the numeric columns' buckets (Wide & Deep's crosses)."""
    schema = infer_schema(frame)
    assignment, _ = make_split(label_vector(frame, schema), schema.task)
    data = encode(frame, schema, assignment)
    train = data.splits["train"]
    pairs = rank_pairs(train["cat"].numpy(), train["label"].numpy(), data.spec.task, buckets=train["num_bkt"].numpy())
    return with_ranked_pairs(data, pairs)


def gate_ranks(model, data: EncodedData) -> dict:
    """The gated model's pairs by |gate| (``pairs:gates`` on 2,048 validation rows): the top five and
    the rank (1 = first) of each planted pair, None where the model has no gate on it."""
    rows = {k: v[:2048] for k, v in data.splits["val"].items()}
    model.eval()
    with torch.no_grad():
        matrix = model.interactions(rows)["pairs:gates"]
    ranked = [r for r in matrix_pairs(matrix.double().cpu().numpy(), model.interaction_names()) if r["strength"] > 0]
    order = [sorted(r["fields"]) for r in ranked]
    return {"top": [[*r["fields"], round(r["strength"], 4)] for r in ranked[:5]],
            "planted_rank": {" × ".join(p): order.index(sorted(p)) + 1 if sorted(p) in order else None
                             for p in PLANTED}}


def run(rows: int, seeds: int, epochs: int) -> dict:
    data = encoded(planted_frame(rows))
    labels = data.splits["test"]["label"].numpy()
    names = [f.name for f in data.spec.fields] + [b.name for b in data.spec.buckets]
    results = {}
    for name in MODELS:
        card = REGISTRY[name]
        arms: dict[str, list] = {arm: [] for arm in ARMS}
        for seed in range(seeds):
            for arm, options in ARMS.items():
                params = {**card.defaults, "numeric_mode": "both", **options}
                tick = time.perf_counter()
                outcome = train_and_evaluate(card, params, data, metric="auc", max_epochs=epochs, patience=2,
                                             seed=seed)
                run_record = {"seed": seed, "test_auc": outcome.test["auc"], "val_auc": outcome.val["auc"],
                              "epochs": outcome.epochs, "seconds": time.perf_counter() - tick,
                              "outputs": outcome.outputs["test"]}
                if arm == "gated":
                    run_record["gates"] = gate_ranks(outcome.model, data)
                arms[arm].append(run_record)
        per_seed = [paired_auc_test(g["outputs"], o["outputs"], labels) for g, o in zip(arms["gated"], arms["off"],
                                                                                          strict=True)]
        averaged = {arm: seed_average("ctr", [r["outputs"] for r in runs]) for arm, runs in arms.items()}
        pooled = paired("ctr", "auc", labels, averaged["gated"], averaged["off"])
        results[name] = {
            "arms": {arm: [{k: v for k, v in r.items() if k != "outputs"} for r in runs] for arm, runs in arms.items()},
            "per_seed": [{"difference": d, "p": p} for d, p in per_seed],
            "seed_averaged": {"gated_auc": pooled["test"], "difference": pooled["difference"], "p": pooled["p"]},
        }
    crosses = [[names[i], names[j]] for i, j in data.spec.ranked_pairs[:3]]
    return {"rows": rows, "seeds": seeds, "max_epochs": epochs, "gate_l1": GATE_L1, "test_rows": len(labels),
            "planted": PLANTED, "wide_deep_crosses": crosses, "models": results}


def markdown(result: dict) -> str:
    header = ("| model | test AUC off | test AUC gated | Δ gated − off (seed-avg.) | DeLong p | per-seed Δ (p) | "
              "seconds off / gated | planted pairs' gate ranks |")
    lines = [header, "|---|---|---|---|---|---|---|---|"]
    for name, r in result["models"].items():
        off, gated = (np.array([x["test_auc"] for x in r["arms"][arm]]) for arm in ("off", "gated"))
        secs = [np.mean([x["seconds"] for x in r["arms"][arm]]) for arm in ("off", "gated")]
        seeds = ", ".join(f"{s['difference']:+.4f} ({s['p']:.2f})" for s in r["per_seed"])
        ranks = "; ".join(
            f"{pair}: " + "/".join("–" if x["gates"]["planted_rank"][pair] is None else str(x["gates"]["planted_rank"][pair])
                                   for x in r["arms"]["gated"])
            for pair in (" × ".join(p) for p in result["planted"]))
        avg = r["seed_averaged"]
        lines.append(f"| {name} | {off.mean():.4f} | {gated.mean():.4f} | {avg['difference']:+.4f} | {avg['p']:.3f} | "
                     f"{seeds} | {secs[0]:.1f} / {secs[1]:.1f} | {ranks} |")
    lines += ["", f"{result['rows']} rows ({result['test_rows']} test), {result['seeds']} seeds, at most "
              f"{result['max_epochs']} epochs, gate_l1 = {result['gate_l1']}; Wide & Deep crosses the top 3 ranked "
              "pairs: " + ", ".join(" × ".join(p) for p in result["wide_deep_crosses"]) + "."]
    return "\n".join(lines)


def main() -> None:
    parser = parser_for(__doc__)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()
    run_or_table(args, lambda: run(args.rows, args.seeds, args.epochs), markdown)


if __name__ == "__main__":
    main()
