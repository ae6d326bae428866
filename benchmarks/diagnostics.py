"""Feature-interaction diagnostics (issue 11): does CrossBoard's model-agnostic pair interaction
(``automl.diagnostics.agnostic.pair_interactions``, ArchDetect's mixed difference averaged over
rows) find planted pairs, against two reference methods, and what does one trial's full
``automl.diagnostics.trial.diagnose`` cost on a Criteo-sized validation split?

    .venv/bin/pip install -e '.[bench]'        # shapiq and interpret-core, for this benchmark only
    .venv/bin/python -m benchmarks.diagnostics --out benchmarks/results/diagnostics.json
    .venv/bin/python -m benchmarks.diagnostics --table benchmarks/results/diagnostics.json
    .venv/bin/python -m benchmarks.diagnostics --models gbdt --seeds 1 --skip-cost   # a quick look

Part 1, planted-pair recovery. ``tests/synth.planted_pairs_frame`` (8,000 rows: colour×shape and
region×channel planted, noise_a / noise_b without effect, 8 fields, 28 pairs; split 80/10/10, so
800 validation rows). Each model (default ``fm,deepfm,gbdt``) is trained with its card's
defaults (``--epochs`` epochs at most, patience 2) on seeds 0..``--seeds``-1 of the data, then
the 28 pairs are ranked by three methods, and each planted pair's rank (1 = strongest) is kept:

(a) ``crossboard``: ``pair_interactions`` with the default ``Settings`` (512 rows × 3 repeats, one
    reference row per row) over all 8 fields on the validation split, as ``diagnose`` calls it.
(b) ``shapiq``: pairwise k-SII (order 2) from ``shapiq.TabularExplainer`` with its marginal
    imputer, exact (budget 2^8 = 256 coalitions, every coalition), aggregated as the mean
    |k-SII_ij| over the explained rows. The game the explainer sees is the fitted model on the
    same encoded validation rows: a point is a vector of 8 validation-row indices, one per field,
    and the wrapper builds the encoded batch by taking each field's slots (``cat`` column, or the
    numeric value with its bucket) from the row its index names (``fields.with_values_of``). A
    real row r is (r, …, r); "field i absent" means field i comes from a background row, exactly
    the replacement ``pair_interactions`` makes, so both methods query the same model on the same
    kind of inputs. The imputer draws ``SHAPIQ_BACKGROUND`` = 32 background rows per explained row
    (shapiq's default is 100) and scores them in one model call (``BatchedMarginalImputer``: the
    same average as shapiq's loop of one call per background row, whose per-call overhead, about
    0.1-0.3 s for a HistGradientBoosting predict here, would otherwise dominate). Budget: rows are
    explained one after another until the explainer has used as much wall time as (a) took for
    the same model and seed (at least ``SHAPIQ_MIN_ROWS`` rows), ×``--shapiq-time`` (default 1).
(c) ``fast``: InterpretML's FAST (``interpret.utils.measure_interactions``) on the training
    split's field codes and labels, after a main-effects EBM (``interactions=0``) as its initial
    score, the way EBM uses FAST. It never sees the trained model: it is model-free, so its ranks
    repeat across models on one seed (its seconds include the mains EBM).

Part 2, cost. A generated Criteo-like table (``criteo_like_frame``: 100,000 rows, 26
categorical fields C1..C26 of cardinality 3 to 40,000 with Zipf-like frequencies, 13 numeric
I1..I13 with missing values; planted C2×C5, C3×C9 and C4×I3), split 45/50/5 so the validation
split holds 50,000 rows; deepfm and gbdt are trained (``--cost-epochs`` epochs at most) and one
trial's full ``diagnose`` (default ``Settings``) is timed: permutation importance of all 39
fields, pairs among the 20 most important, the model's own views where it has them. Note that
``diagnose`` draws an 8,192-row sample (``trial.SAMPLE_ROWS``) from the 50,000 rows first.

Part 3, hierarchies (``--hierarchy``, issue 26). ``tests/synth.hierarchy_frame`` (``--rows`` rows): item_id ->
category, user_id -> segment (a 99.5% map), ad_id -> campaign; planted segment × category (two determined
fields) and hour × device (hour a numeric column, so the pair is seen through its bucket). Each model
(``--models``) is trained with its card's defaults (``--epochs`` epochs at most) and diagnosed by
``diagnose`` (the dependencies found when the data were encoded, the folded ranking, the data voter); the
consensus is ``consensus.consensus_of`` over the models with ``vote_weights`` from their validation AUC.
Kept: each planted pair's rank after folding, per model and for the consensus, the consensus's
strongest pair that is neither planted nor a shadow of one, and the misses the Diagnostics page states.

    .venv/bin/python -m benchmarks.diagnostics --hierarchy --models fm,deepfm,nfm,afm,pnn,gbdt --rows 20000 \
        --epochs 3 --out benchmarks/results/diagnostics_hierarchy.json
    .venv/bin/python -m benchmarks.diagnostics --table benchmarks/results/diagnostics_hierarchy.json

``--hour categorical`` reads the hour as a 24-value categorical field instead (the issue's log).

Torch uses ``--threads`` threads (2 by default, the shared machine's cores).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from automl.data.infer_schema import infer_schema
from automl.data.validate import label_vector
from automl.diagnostics.agnostic import Settings, pair_interactions
from automl.diagnostics.consensus import consensus_of, vote_weights
from automl.diagnostics.fields import Batch, Field, schema_fields, take, with_values_of
from automl.diagnostics.trial import diagnose
from automl.features.encode import EncodedData, encode
from automl.features.splits import make_split
from automl.training.fit import train_and_evaluate
from automl.training.predict import model_outputs
from models import REGISTRY

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from synth import (  # the tests' generators, imported, not copied
    HIERARCHY_PAIRS,
    HIERARCHY_ROLES,
    PLANTED_PAIRS,
    encode_frame,
    hierarchy_frame,
    planted_pairs_frame,
)

SHAPIQ_BACKGROUND = 32      # background rows the marginal imputer averages over per explained row
SHAPIQ_MIN_ROWS = 4         # explained rows at least, whatever the time budget
METHODS = ("crossboard", "shapiq", "fast")
CRITEO_PAIRS = (("C2", "C5"), ("C3", "C9"), ("C4", "I3"))
CRITEO_CARDINALITIES = (4, 8, 12, 20, 30, 50, 80, 120, 200, 300, 500, 800, 1200, 2000, 3000, 5000, 8000,
                        10_000, 15_000, 20_000, 30_000, 40_000, 3, 6, 10, 25)


# ---------------------------------------------------------------- data

def encode_with(frame: pd.DataFrame, label: str, roles: dict[str, str], fractions=(0.8, 0.1, 0.1)) -> EncodedData:
    """``tests/synth.encode_frame`` with the split's fractions chosen (stratified random split)."""
    schema = infer_schema(frame, label=label, roles=roles)
    assignment, _ = make_split(label_vector(frame, schema), schema.task, None, fractions=fractions)
    return encode(frame, schema, assignment)


def planted_data(n_rows: int, seed: int) -> EncodedData:
    frame = planted_pairs_frame(n_rows, seed)
    roles = {c: "categorical" for c in frame.columns if c not in ("level", "click")} | {"level": "numeric"}
    return encode_with(frame, "click", roles)


def criteo_like_frame(n_rows: int = 100_000, seed: int = 0) -> pd.DataFrame:
    """26 categorical fields (Zipf-like value frequencies), 13 numeric counts (some missing), a
    click from main effects of C1..C12 and I1..I6 plus the planted ``CRITEO_PAIRS``; ~25% clicks."""
    rng = np.random.default_rng(seed)
    codes = {}
    for j, k in enumerate(CRITEO_CARDINALITIES, start=1):
        p = 1.0 / np.arange(1, k + 1) ** 1.05
        codes[f"C{j}"] = rng.choice(k, n_rows, p=p / p.sum())
    counts = {f"I{j}": np.floor(rng.lognormal(1.0 + 0.2 * j, 1.0, n_rows)) for j in range(1, 14)}
    z = {name: (np.log1p(v) - np.log1p(v).mean()) / np.log1p(v).std() for name, v in counts.items()}
    logit = np.full(n_rows, -1.4)
    for j in range(1, 13):
        name = f"C{j}"
        logit += rng.normal(0, 0.35, CRITEO_CARDINALITIES[j - 1])[codes[name]]
    for j in range(1, 7):
        logit += rng.normal(0, 0.25) * z[f"I{j}"]
    (a, b), (c, d), (e, num) = CRITEO_PAIRS
    for x, y in ((a, b), (c, d)):
        ka, kb = CRITEO_CARDINALITIES[int(x[1:]) - 1], CRITEO_CARDINALITIES[int(y[1:]) - 1]
        logit += rng.choice([-1.1, 1.1], size=(ka, kb))[codes[x], codes[y]]
    logit += 0.9 * rng.choice([-1.0, 1.0], CRITEO_CARDINALITIES[int(e[1:]) - 1])[codes[e]] * z[num]
    click = (rng.random(n_rows) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame({name: [f"{name.lower()}_{v}" for v in values] for name, values in codes.items()})
    for j, name in enumerate(counts, start=1):
        values = counts[name].copy()
        if j in (1, 5, 9, 12):                       # some counts missing, as in Criteo
            values[rng.random(n_rows) < 0.15] = np.nan
        frame[name] = values
    frame["click"] = click
    return frame


def criteo_data(n_rows: int, seed: int = 0) -> EncodedData:
    frame = criteo_like_frame(n_rows, seed)
    roles = {f"C{j}": "categorical" for j in range(1, 27)} | {f"I{j}": "numeric" for j in range(1, 14)}
    return encode_with(frame, "click", roles, fractions=(0.45, 0.5, 0.05))


# ---------------------------------------------------------------- methods

def planted_ranks(ranking: list[frozenset], planted) -> dict[str, int | None]:
    """"a×b" -> the 1-based rank of the planted pair in ``ranking`` (None: not ranked at all)."""
    where = {pair: k + 1 for k, pair in enumerate(ranking)}
    return {"×".join(p): where.get(frozenset(p)) for p in planted}


def crossboard_pairs(score, val: Batch, fields: list[Field]) -> tuple[list[frozenset], list[dict]]:
    pairs = pair_interactions(score, val, fields, list(range(len(fields))), Settings())
    return [frozenset(p["fields"]) for p in pairs], pairs


def index_game(score, pool: Batch, fields: list[Field]):
    """The model as a function of [m, F] float arrays of pool-row indices: field k of each row
    from the pool row named in column k (the wrapper of the module docstring)."""
    def game(z: np.ndarray) -> np.ndarray:
        index = torch.as_tensor(np.asarray(z).astype(np.int64))
        batch = take(pool, index[:, 0])
        for k in range(1, len(fields)):
            batch = with_values_of(batch, take(pool, index[:, k]), [fields[k]])
        return score(batch)
    return game


def shapiq_pairs(score, val: Batch, fields: list[Field], seconds: float, seed: int) -> dict:
    """Mean |k-SII| per pair over rows explained until ``seconds`` of wall time are used."""
    from shapiq import TabularExplainer
    from shapiq.imputer import MarginalImputer

    class BatchedMarginalImputer(MarginalImputer):
        """shapiq's marginal imputer, its loop over background rows made one model call."""

        def value_function(self, coalitions: np.ndarray) -> np.ndarray:
            replacement = self._sample_replacement_data(self.sample_size)
            x = self.x.reshape(1, 1, -1)
            imputed = np.where(coalitions[None, :, :], x, replacement[:, None, :])
            outputs = self.predict(imputed.reshape(-1, imputed.shape[-1])).reshape(replacement.shape[0], -1)
            outputs = outputs.mean(axis=0)
            outputs[~np.any(coalitions, axis=1)] = self.empty_prediction
            return outputs

    started = time.perf_counter()
    n_val, n_fields = val["label"].shape[0], len(fields)
    game = index_game(score, val, fields)
    rows = np.repeat(np.arange(n_val, dtype=np.float64)[:, None], n_fields, axis=1)
    imputer = BatchedMarginalImputer(game, rows, sample_size=min(SHAPIQ_BACKGROUND, n_val), random_state=seed)
    explainer = TabularExplainer(game, rows, imputer=imputer, index="k-SII", max_order=2, random_state=seed)
    pairs = list(combinations(range(n_fields), 2))
    total = np.zeros(len(pairs))
    order = np.random.default_rng(seed).permutation(n_val)
    explained = 0
    while explained < n_val and (explained < SHAPIQ_MIN_ROWS or time.perf_counter() - started < seconds):
        values = explainer.explain_function(rows[order[explained]], budget=2 ** n_fields, random_state=seed + explained)
        total += np.abs([values[pair] for pair in pairs])
        explained += 1
    strength = total / explained
    ranking = [frozenset((fields[pairs[p][0]].name, fields[pairs[p][1]].name)) for p in np.argsort(-strength)]
    return {"ranking": ranking, "rows": explained, "seconds": time.perf_counter() - started,
            "top": [{"fields": sorted(ranking[k]), "strength": float(np.sort(strength)[::-1][k])} for k in range(3)]}


def fast_pairs(data: EncodedData, fields: list[Field], seed: int) -> dict:
    """FAST on the training split's field values, after a mains-only EBM (model-free)."""
    from interpret.glassbox import ExplainableBoostingClassifier
    from interpret.utils import measure_interactions

    started = time.perf_counter()
    train = data.splits["train"]
    columns, types = [], []
    for field in fields:
        key, column = field.slots[0]
        values = train[key][:, column].cpu().numpy()
        columns.append(values.astype(np.int64).astype(str) if key == "cat" else values.astype(np.float64))
        types.append("nominal" if key == "cat" else "continuous")
    x = pd.DataFrame({f.name: c for f, c in zip(fields, columns, strict=True)})
    y = train["label"].cpu().numpy().astype(np.int64)
    mains = ExplainableBoostingClassifier(interactions=0, feature_types=types, random_state=seed, n_jobs=1)
    mains.fit(x, y)
    ranked = measure_interactions(x, y, init_score=mains, feature_types=types)
    names = [f.name for f in fields]
    ranking = [frozenset((names[i], names[j])) for (i, j), _ in ranked]
    return {"ranking": ranking, "seconds": time.perf_counter() - started,
            "top": [{"fields": sorted(ranking[k]), "strength": float(ranked[k][1])} for k in range(3)]}


# ---------------------------------------------------------------- parts

def fitted(name: str, data: EncodedData, epochs: int):
    card = REGISTRY[name]
    tick = time.perf_counter()
    outcome = train_and_evaluate(card, dict(card.defaults), data, metric="auc", max_epochs=epochs, patience=2)
    return outcome, time.perf_counter() - tick


def recovery(models: list[str], seeds: int, rows: int, epochs: int, shapiq_time: float) -> list[dict]:
    runs = []
    for seed in range(seeds):
        data = planted_data(rows, seed)
        val = data.splits["val"]
        fields = schema_fields(data.spec, val)
        fast = fast_pairs(data, fields, seed)
        for name in models:
            outcome, train_seconds = fitted(name, data, epochs)
            model = outcome.model

            def score(batch: Batch, model=model) -> np.ndarray:
                return model_outputs(model, batch)

            tick = time.perf_counter()
            ranking, pairs = crossboard_pairs(score, val, fields)
            cb_seconds = time.perf_counter() - tick
            shap = shapiq_pairs(score, val, fields, cb_seconds * shapiq_time, seed)
            run = {"model": name, "seed": seed, "val_auc": outcome.val["auc"], "test_auc": outcome.test["auc"],
                   "epochs": outcome.epochs, "train_seconds": train_seconds, "methods": {
                       "crossboard": {"ranks": planted_ranks(ranking, PLANTED_PAIRS), "seconds": cb_seconds,
                                      "rows": min(Settings().pair_rows, val["label"].shape[0]),
                                      "top": [{"fields": p["fields"], "strength": p["strength"],
                                               "low": p["low"], "high": p["high"]} for p in pairs[:3]]},
                       "shapiq": {"ranks": planted_ranks(shap["ranking"], PLANTED_PAIRS), "seconds": shap["seconds"],
                                  "rows": shap["rows"], "top": shap["top"]},
                       "fast": {"ranks": planted_ranks(fast["ranking"], PLANTED_PAIRS), "seconds": fast["seconds"],
                                "top": fast["top"]}}}
            runs.append(run)
            print(json.dumps({k: v for k, v in run.items() if k != "methods"}),
                  {m: (r["ranks"], round(r["seconds"], 2), r.get("rows")) for m, r in run["methods"].items()},
                  flush=True)
    return runs


def cost(models: list[str], rows: int, epochs: int) -> dict:
    tick = time.perf_counter()
    data = criteo_data(rows)
    encode_seconds = time.perf_counter() - tick
    val = data.splits["val"]
    out = {"rows": rows, "val_rows": int(val["label"].shape[0]), "fields": len(schema_fields(data.spec, val)),
           "categorical": len(data.spec.fields), "numeric_columns": len(data.spec.numeric),
           "planted": ["×".join(p) for p in CRITEO_PAIRS], "encode_seconds": encode_seconds, "models": []}
    print(json.dumps({k: v for k, v in out.items() if k != "models"}), flush=True)
    for name in models:
        outcome, train_seconds = fitted(name, data, epochs)
        result = diagnose(outcome.model, data, Settings())
        ranking = [frozenset(p["fields"]) for p in result["pairs"]]
        run = {"model": name, "val_auc": outcome.val["auc"], "epochs": outcome.epochs, "train_seconds": train_seconds,
               "diagnose_seconds": result["seconds"], "sample_rows": result["rows"],
               "pair_fields": result["pair_fields"], "of_fields": result["of_fields"],
               "ranks": planted_ranks(ranking, CRITEO_PAIRS), "pairs_ranked": len(ranking),
               "top_pairs": [{"fields": p["fields"], "strength": p["strength"]} for p in result["pairs"][:5]],
               "top_fields": [r["field"] for r in result["fields"][:10]],
               "agreement": result["agreement"]}
        out["models"].append(run)
        print(json.dumps(run), flush=True)
    return out


def hierarchy(models: list[str], rows: int, epochs: int, hour: str = "numeric") -> dict:
    """Part 3 of the module docstring, with the hour read as ``hour`` ("numeric" or "categorical")."""
    data = encode_frame(hierarchy_frame(rows), label="click", roles={**HIERARCHY_ROLES, "hour": hour})
    names = [f.name for f in data.spec.fields]
    out = {"rows": rows, "hour": hour, "planted": ["×".join(p) for p in HIERARCHY_PAIRS],
           "dependencies": [[names[s], names[d], share] for s, d, share in data.spec.dependencies], "models": []}
    found, metrics = {}, {}
    for number, name in enumerate(models):
        outcome, train_seconds = fitted(name, data, epochs)
        result = {"trial": number, "model": name, **diagnose(outcome.model, data, Settings())}
        found[name], metrics[number] = result, dict(outcome.val)
        folded = [frozenset(p["fields"]) for p in result["folded"]["folded"]]
        run = {"model": name, "val_auc": outcome.val["auc"], "test_auc": outcome.test["auc"],
               "epochs": outcome.epochs, "train_seconds": train_seconds, "diagnose_seconds": result["seconds"],
               "ranks": planted_ranks(folded, HIERARCHY_PAIRS),
               "raw_ranks": planted_ranks([frozenset(p["fields"]) for p in result["pairs"]], HIERARCHY_PAIRS),
               "top_folded": [{"fields": p["fields"], "strength": p["strength"], "also": p["also"]}
                              for p in result["folded"]["folded"][:4]],
               "top_raw": [{"fields": p["fields"], "strength": p["strength"]} for p in result["pairs"][:4]]}
        out["models"].append(run)
        print(json.dumps({k: v for k, v in run.items() if not k.startswith("top")}), flush=True)
    data_voter = next(iter(found.values()))["data"]
    out["data"] = {"ranks": planted_ranks([frozenset(p["fields"]) for p in data_voter["folded"]], HIERARCHY_PAIRS),
                   "top": [{"fields": p["fields"], "strength": p["strength"]} for p in data_voter["folded"][:4]]}
    view = consensus_of(found, vote_weights(found, metrics))
    planted = {frozenset(p) for p in HIERARCHY_PAIRS}
    ranking = [frozenset(p["fields"]) for p in view["pairs"]]
    out["consensus"] = {"ranks": planted_ranks(ranking, HIERARCHY_PAIRS), "weights": view["weights"],
                        "top": [{"fields": p["fields"], "strength": p["strength"], "low": p["low"],
                                 "high": p["high"], "also": p["also"]} for p in view["pairs"][:6]],
                        "best_other": next(({"fields": sorted(k), "rank": r + 1} for r, k in enumerate(ranking)
                                            if k not in planted), None),
                        "misses": [m["sentence"] for m in view["misses"]]}
    unfolded = consensus_of({m: {k: v for k, v in r.items() if k not in ("folded", "data")} for m, r in found.items()},
                            view["weights"])
    raw = [frozenset(p["fields"]) for p in unfolded["pairs"]]
    out["consensus"]["raw_ranks"] = planted_ranks(raw, HIERARCHY_PAIRS)
    out["consensus"]["raw_top"] = [{"fields": p["fields"], "strength": p["strength"]} for p in unfolded["pairs"][:6]]
    print(json.dumps(out["consensus"]), flush=True)
    return out


def hierarchy_table(result: dict) -> str:
    """The markdown table of part 3."""
    h = result["hierarchy"]
    planted = h["planted"]
    lines = [f"Hierarchies ({h['rows']:,} rows, hour {h.get('hour', 'numeric')}; maps found on the training rows: "
             + ", ".join(f"{s} → {d} ({share:.1%})" for s, d, share in h["dependencies"])
             + "): each planted pair's rank after shadows are folded (before folding in brackets).", "",
             "| voter | val AUC | weight | " + " | ".join(f"rank of {p}" for p in planted)
             + " | top pair after folding | train s | diagnose s |",
             "|---|---|---|" + "---|" * len(planted) + "---|---|---|"]
    weights = h["consensus"]["weights"]
    for run in h["models"]:
        ranks = " | ".join(f"{_rank_cell([run['ranks'][p]])} ({_rank_cell([run['raw_ranks'][p]])})" for p in planted)
        top = run["top_folded"][0]
        lines.append(f"| {run['model']} | {run['val_auc']:.3f} | {weights.get(run['model'], 1.0):.2f} | {ranks} | "
                     f"{' × '.join(top['fields'])} | {run['train_seconds']:.0f} | {run['diagnose_seconds']:.1f} |")
    lines.append("| the data (model-free) | – | 1.00 | " + " | ".join(_rank_cell([h["data"]["ranks"][p]])
                                                                    for p in planted)
                 + f" | {' × '.join(h['data']['top'][0]['fields'])} | – | – |")
    other = h["consensus"]["best_other"]
    c = h["consensus"]
    lines.append("| **consensus** | – | – | " + " | ".join(f"**{_rank_cell([c['ranks'][p]])}** "
                                                          f"({_rank_cell([c['raw_ranks'][p]])})" for p in planted)
                 + f" | {' × '.join(h['consensus']['top'][0]['fields'])} | – | – |")
    lines += ["", (f"Strongest consensus pair that is neither planted nor a shadow of one: "
                  f"{' × '.join(other['fields']) if other else 'none'} (rank {other['rank'] if other else '–'}).")]
    lines += ["", "Consensus before folding (the models' raw pairs, no data voter), strongest first: "
              + ", ".join(f"{' × '.join(p['fields'])} {p['strength']:.2f}" for p in c["raw_top"]) + "."]
    lines += ["", "Consensus after folding: " + ", ".join(
        f"{' × '.join(p['fields'])} {p['strength']:.2f} [{p['low']:.2f}, {p['high']:.2f}]"
        + (f" (also seen as {', '.join(' × '.join(a) for a in p['also'])})" if p["also"] else "") for p in c["top"])
        + "."]
    if h["consensus"]["misses"]:
        lines += ["", "What the Diagnostics page says:", ""] + [f"- {m}" for m in h["consensus"]["misses"]]
    return "\n".join(lines)


# ---------------------------------------------------------------- table

def _rank_cell(values: list[int | None]) -> str:
    return " / ".join("–" if v is None else str(v) for v in values)


def markdown(result: dict) -> str:
    lines = [("Planted-pair recovery: each planted pair's rank among the 28 pairs (1 = strongest), seeds "
              f"0..{result['seeds'] - 1} left to right; seconds are the mean per run."), "",
             "| model | test AUC | method | " + " | ".join(f"rank of {'×'.join(p)}" for p in PLANTED_PAIRS)
             + " | seconds | rows explained |",
             "|---|---|---|" + "---|" * len(PLANTED_PAIRS) + "---|---|"]
    label = {"crossboard": "CrossBoard `pair_interactions`", "shapiq": "shapiq k-SII (time-matched)",
             "fast": "FAST (model-free: same ranks for every model)"}
    for name in result["models"]:
        runs = [r for r in result["recovery"] if r["model"] == name]
        if not runs:
            continue
        auc = np.mean([r["test_auc"] for r in runs])
        for method in METHODS:
            cells = [_rank_cell([r["methods"][method]["ranks"]["×".join(p)] for r in runs]) for p in PLANTED_PAIRS]
            seconds = np.mean([r["methods"][method]["seconds"] for r in runs])
            explained = [r["methods"][method].get("rows") for r in runs]
            rows = " / ".join(str(x) for x in explained) if explained[0] is not None else "(training split)"
            lines.append(f"| {name} | {auc:.3f} | {label[method]} | " + " | ".join(cells)
                         + f" | {seconds:.1f} | {rows} |")
    if result.get("cost"):
        c = result["cost"]
        lines += ["", (f"Cost of one trial's `diagnose` ({c['val_rows']:,} validation rows, {c['fields']} fields: "
                       f"{c['categorical']} categorical, {c['fields'] - c['categorical']} numeric, the latter "
                       f"{c['numeric_columns']} `num` columns with their missing flags; "
                       f"planted {', '.join(c['planted'])}):"), "",
                  "| model | val AUC | diagnose seconds | sample rows | pair fields | "
                  + " | ".join(f"rank of {p}" for p in c["planted"]) + " | training seconds |",
                  "|---|---|---|---|---|" + "---|" * len(c["planted"]) + "---|"]
        for run in c["models"]:
            ranks = " | ".join("not a candidate" if run["ranks"][p] is None else f"{run['ranks'][p]} of "
                               f"{run['pairs_ranked']}" for p in c["planted"])
            lines.append(f"| {run['model']} | {run['val_auc']:.3f} | {run['diagnose_seconds']:.1f} | "
                         f"{run['sample_rows']:,} | {run['pair_fields']} of {run['of_fields']} | {ranks} | "
                         f"{run['train_seconds']:.0f} ({run['epochs']} epochs) |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="fm,deepfm,gbdt")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=8000)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--shapiq-time", type=float, default=1.0, help="shapiq's wall time / CrossBoard's")
    parser.add_argument("--cost-models", default="deepfm,gbdt")
    parser.add_argument("--cost-rows", type=int, default=100_000)
    parser.add_argument("--cost-epochs", type=int, default=3)
    parser.add_argument("--skip-cost", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--table", type=Path, help="print the markdown table of a saved result and exit")
    parser.add_argument("--hierarchy", action="store_true", help="part 3 only: hierarchies and shadows")
    parser.add_argument("--hour", choices=("numeric", "categorical"), default="numeric",
                        help="part 3: how the hour column is read")
    args = parser.parse_args()
    if args.table:
        saved = json.loads(args.table.read_text())
        print(hierarchy_table(saved) if "hierarchy" in saved else markdown(saved))
        return
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    models = [m for m in args.models.split(",") if m]
    if args.hierarchy:
        result = {"threads": args.threads, "epochs": args.epochs,
                  "hierarchy": hierarchy(models, args.rows, args.epochs, args.hour)}
        result["wall_seconds"] = time.perf_counter() - started
        print(hierarchy_table(result))
        if args.out:
            args.out.write_text(json.dumps(result, indent=1))
        return
    result = {"models": models, "seeds": args.seeds, "rows": args.rows, "epochs": args.epochs,
              "shapiq_time": args.shapiq_time, "shapiq_background": SHAPIQ_BACKGROUND, "threads": args.threads,
              "settings": Settings().__dict__, "recovery": recovery(models, args.seeds, args.rows, args.epochs,
                                                                     args.shapiq_time)}
    if not args.skip_cost:
        result["cost"] = cost([m for m in args.cost_models.split(",") if m], args.cost_rows, args.cost_epochs)
    result["wall_seconds"] = time.perf_counter() - started
    print(markdown(result))
    print(f"wall time {result['wall_seconds'] / 60:.1f} min")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
