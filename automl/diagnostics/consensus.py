"""The study's consensus on which field pairs interact, weighed by evidence.

Voters: each model's best trial (its stored diagnostics) and the data itself (``data_pairs``, the
model-free voter kept with those diagnostics). A voter's pairs are its ranking folded with the fields'
dependencies (``automl.diagnostics.shadows``: shadows reported under their source, a field paired with
one it determines dropped; older diagnostics without it: the raw pairs), each scaled by the voter's
strongest pair (1 = that pair), a pair it did not rank, or ranked below ``NOISE_FLOOR`` (float rounding
of an additive model), counting 0.

Weights: a model votes with its validation quality relative to the best model's, beyond the constant
predictor's: (q − q0) / (q_best − q0) clipped to [0, 1], with q the validation AUC (q0 = 0.5) or, for
ratings, minus the RMSE (q0 = minus the RMSE of the training mean: the label's spread); q is the trial's
stored validation metric when the store has it, else the diagnostics' own (``Quality``, the same metric
on the validation sample), and a model without either votes with weight 1. A model near the constant
predictor so barely votes; the data voter votes with weight 1, as the best model does.

A pair's strength is the weighted mean of the voters' scaled strengths; its band is the 95% percentile
bootstrap interval of that weighted mean over the voters drawn with replacement (each draw keeps its
voters' weights; draws whose voters all weigh 0 are left out). Every weighted mean is a convex
combination of scaled strengths in [0, 1], so the band stays within [0, 1].
"""

from __future__ import annotations

import json

import numpy as np

from automl.diagnostics.results import Band, ConsensusPair, PairBand, TrialDiagnostics
from models.spec import MAX_CROSSES
from storage import Store
from storage.store import loads

NOISE_FLOOR = 1e-6      # a pair strength below this share of the output's variance is no interaction
BOOTSTRAP_DRAWS = 2000
DATA_VOTER = "the data"
STRONG_RANK, STRONG_SHARE = 3, 0.5      # a voter shows a pair strongly: in its top 3 and at least half its top
WEAK_SHARE = 0.25                       # a model misses it: not in its top 3 and below a quarter of its top
MISSES_OF = 5                           # the consensus pairs a model's misses are looked for among


def best_diagnostics(store: Store, study_id: int) -> dict[str, TrialDiagnostics]:
    """Model -> the kept diagnostics of its best trial (failures left out)."""
    best = {model: number for model, (number, _) in store.best_trials(study_id).items()}
    stored = {d.trial_number: json.loads(d.result_json) for d in store.diagnostics(study_id)}
    return {model: stored[number] for model, number in best.items()
            if number in stored and "error" not in stored[number]}


def voter_pairs(found: dict) -> list[PairBand]:
    """A result's interactions: its folded pairs (``FoldedPairs["folded"]``), else its raw ``pairs``."""
    return found["folded"]["folded"] if "folded" in found else found.get("pairs", [])


def model_weights(store: Store, study_id: int, found: dict[str, TrialDiagnostics]) -> dict[str, float]:
    """Model -> its vote's weight (module docstring), with the trials' stored validation metrics."""
    return vote_weights(found, {r.trial_number: loads(r.val_json) for r in store.results(study_id)})


def vote_weights(found: dict[str, TrialDiagnostics], stored: dict[int, dict]) -> dict[str, float]:
    """Model -> its vote's weight (module docstring); ``stored``: trial number -> its validation metrics."""
    gains: dict[str, float | None] = {}
    for model, result in found.items():
        q = result.get("quality")
        val = stored.get(result.get("trial"), {})
        if q is not None:
            value = val.get(q["metric"], q["model"])
            value = q["model"] if value is None or not np.isfinite(value) else value
            gains[model] = (q["constant"] - value) if q["metric"] == "rmse" else value - q["constant"]
        elif val.get("auc") is not None and np.isfinite(val["auc"]):
            gains[model] = val["auc"] - 0.5
        else:
            gains[model] = None
    best = max((g for g in gains.values() if g is not None), default=0.0)
    return {m: 1.0 if g is None else float(np.clip(g / best, 0.0, 1.0)) if best > 0 else 1.0
            for m, g in gains.items()}


def consensus_view(store: Store, study_id: int) -> dict:
    """{"pairs": the consensus pairs, strongest first (``ConsensusPair`` with ``also`` and ``data``), "weights":
    voter -> weight, "not_interactions": the pairs of a field with one it determines, "misses": the
    sentences of ``missed_pairs``}."""
    found = best_diagnostics(store, study_id)
    return consensus_of(found, model_weights(store, study_id, found))


def consensus_of(found: dict[str, TrialDiagnostics], weights: dict[str, float]) -> dict:
    """``consensus_view`` of the models' diagnostics ``found`` voting with ``weights``."""
    voters = {model: voter_pairs(result) for model, result in found.items()}
    weights = dict(weights)
    data = next((r["data"] for r in found.values() if "data" in r), None)
    if data is not None and voters:
        voters[DATA_VOTER], weights[DATA_VOTER] = data["folded"], 1.0
    scaled = {voter: scaled_strengths(pairs) for voter, pairs in voters.items()}
    keys = list(dict.fromkeys(key for by_pair in scaled.values() for key, v in by_pair.items() if v > 0))
    names = list(voters)
    values = np.array([[scaled[v].get(key, 0.0) for v in names] for key in keys]).reshape(len(keys), len(names))
    bands = bootstrap_bands(values, np.array([weights[v] for v in names]))
    also: dict[frozenset, set[tuple[str, ...]]] = {}
    for pairs in voters.values():
        for p in pairs:
            also.setdefault(frozenset(p["fields"]), set()).update(tuple(sorted(a["fields"])) for a in p.get("also", []))
    ranked = [ConsensusPair(fields=sorted(key), **estimate,
                            models=sum(scaled[v].get(key, 0.0) > 0 for v in names if v != DATA_VOTER),
                            also=sorted(list(a) for a in also.get(key, ())),
                            **({"data": scaled[DATA_VOTER].get(key, 0.0)} if DATA_VOTER in scaled else {}))
              for key, estimate in zip(keys, bands, strict=True)]
    ranked.sort(key=lambda r: -r["strength"])
    not_interactions = {tuple(sorted(p["fields"])): p["reason"] for r in found.values()
                        for p in r.get("folded", {}).get("not_interactions", [])}
    return {"pairs": ranked, "weights": weights,
            "not_interactions": [{"fields": list(k), "reason": v} for k, v in sorted(not_interactions.items())],
            "misses": missed_pairs(ranked, voters)}


def consensus_pairs(store: Store, study_id: int) -> list[ConsensusPair]:
    """The consensus pairs, strongest first (``consensus_view``)."""
    return consensus_view(store, study_id)["pairs"]


def scaled_strengths(pairs: list[PairBand]) -> dict[frozenset, float]:
    """Pair -> its strength over the voter's strongest (0 below ``NOISE_FLOOR``)."""
    top = max((p["strength"] for p in pairs), default=0.0)
    return {frozenset(p["fields"]): p["strength"] / top if p["strength"] >= NOISE_FLOOR else 0.0 for p in pairs}


def bootstrap_bands(values: np.ndarray, weights: np.ndarray | None = None, draws: int = BOOTSTRAP_DRAWS,
                    seed: int = 0) -> list[Band]:
    """One band per row of ``values`` [pairs, voters] (each voter's scaled strength of the pair) with the voters'
    ``weights`` [voters] (default equal): the weighted mean over the voters and the 2.5% and 97.5% quantiles of
    it over ``draws`` resamplings of the voters (how often each voter is drawn [draws, voters], the same for
    every pair; draws of zero total weight left out), which lie between the row's smallest and largest value."""
    if not len(values):
        return []
    voters = values.shape[1]
    weights = np.ones(voters) if weights is None else np.asarray(weights, dtype=float)
    if weights.sum() <= 0:
        weights = np.ones(voters)
    counts = np.random.default_rng(seed).multinomial(voters, np.full(voters, 1 / voters), size=draws) * weights
    counts = counts[counts.sum(axis=1) > 0]
    means = values @ counts.T / counts.sum(axis=1)                           # [pairs, draws]
    low, high = np.quantile(means, [0.025, 0.975], axis=1)
    mean = values @ weights / weights.sum()
    return [Band(strength=float(m), low=float(min(lo, m)), high=float(max(hi, m)))
            for m, lo, hi in zip(mean, low, high, strict=True)]


def missed_pairs(consensus: list[ConsensusPair], voters: dict[str, list[PairBand]]) -> list[dict]:
    """For each of the ``MISSES_OF`` strongest consensus pairs and each pair the data shows strongly: the models
    that do not show it (not in their top ``STRONG_RANK``, below ``WEAK_SHARE`` of their strongest) while another
    voter shows it strongly; {"fields", "model", "rank" (its rank for the model, None: unranked), "share" (of the
    model's strongest), "by": the voters that show it, "sentence"}."""
    ranks = {v: {frozenset(p["fields"]): k + 1 for k, p in enumerate(pairs)} for v, pairs in voters.items()}
    scaled = {v: scaled_strengths(pairs) for v, pairs in voters.items()}
    strong = {v: {key for key, k in ranks[v].items() if k <= STRONG_RANK and scaled[v][key] >= STRONG_SHARE}
              for v in voters}
    wanted = [frozenset(p["fields"]) for p in consensus[:MISSES_OF]]
    wanted += [key for key in strong.get(DATA_VOTER, ()) if key not in wanted]
    misses = []
    for key in wanted:
        by = [v for v in voters if key in strong[v]]
        for model in voters:
            rank = ranks[model].get(key)
            if model == DATA_VOTER or not by or (rank is not None and rank <= STRONG_RANK) \
                    or scaled[model].get(key, 0.0) >= WEAK_SHARE:
                continue
            names = " × ".join(sorted(key))
            others = [v for v in by if v != model]
            misses.append({"fields": sorted(key), "model": model, "rank": rank, "share": scaled[model].get(key, 0.0),
                           "by": others,
                           "sentence": f"{model} did not learn {names}; {_joined(others)} did "
                                       f"({model}: {'not ranked' if rank is None else f'rank {rank}'}, "
                                       f"{scaled[model].get(key, 0.0):.0%} of its strongest pair)."})
    return misses


def _joined(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def detected_crosses(store: Store, study_id: int, columns: set[str], limit: int = MAX_CROSSES) -> list[list[str]]:
    """``crosses_among`` the study's consensus pairs."""
    return crosses_among(consensus_pairs(store, study_id), columns, limit)


def crosses_among(consensus: list[ConsensusPair], columns: set[str], limit: int = MAX_CROSSES) -> list[list[str]]:
    """The ``consensus`` pairs of two ``columns`` (those a model can cross), strongest first, at most ``limit``:
    what ``cross_source="diagnosed"`` crosses in a study tuned again."""
    return [p["fields"] for p in consensus if p["models"] and set(p["fields"]) <= columns][:limit]
