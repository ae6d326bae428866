"""The study's consensus on which field pairs interact: the pair strengths of each model's best
trial (its stored diagnostics), each scaled by that model's strongest pair (so every model counts
once, whatever its scale), averaged over the models; a pair a model did not rank, or ranked below
``NOISE_FLOOR`` (float rounding of an additive model), counts 0 for it. The band is the 95% percentile
bootstrap interval of that mean over the models (the models drawn with replacement), so, like every
model's scaled strength, it stays within [0, 1]."""

from __future__ import annotations

import json

import numpy as np

from automl.diagnostics.results import Band, ConsensusPair, PairBand
from models.spec import MAX_CROSSES
from storage import Store

NOISE_FLOOR = 1e-6      # a pair strength below this share of the output's variance is no interaction
BOOTSTRAP_DRAWS = 2000


def model_best_pairs(store: Store, study_id: int) -> dict[str, list[PairBand]]:
    """Model -> the agnostic pairs of its best trial, for the models whose best has diagnostics."""
    best = {model: number for model, (number, _) in store.best_trials(study_id).items()}
    stored = {d.trial_number: d for d in store.diagnostics(study_id)}
    return {model: json.loads(stored[number].result_json).get("pairs", [])
            for model, number in best.items() if number in stored}


def consensus_pairs(store: Store, study_id: int) -> list[ConsensusPair]:
    """The pairs the models' best trials rank, strongest first."""
    per_model = model_best_pairs(store, study_id)
    scaled: dict[tuple[str, str], dict[str, float]] = {}
    for model, pairs in per_model.items():
        top = max((p["strength"] for p in pairs), default=0.0)
        for p in pairs:
            key = tuple(sorted(p["fields"]))
            scaled.setdefault(key, {})[model] = p["strength"] / top if p["strength"] >= NOISE_FLOOR else 0.0
    found = {key: by_model for key, by_model in scaled.items() if any(by_model.values())}
    bands = bootstrap_bands(np.array([[by_model.get(m, 0.0) for m in per_model] for by_model in found.values()]))
    ranked = [{"fields": list(key), **estimate, "models": sum(v > 0 for v in by_model.values())}
              for (key, by_model), estimate in zip(found.items(), bands, strict=True)]
    return sorted(ranked, key=lambda r: -r["strength"])


def bootstrap_bands(values: np.ndarray, draws: int = BOOTSTRAP_DRAWS, seed: int = 0) -> list[Band]:
    """One band per row of ``values`` [pairs, models] (each model's scaled strength of the pair): the mean over
    the models and the 2.5% and 97.5% quantiles of that mean over ``draws`` resamplings of the models (how often
    each model is drawn [draws, models], the same for every pair), which lie between the row's smallest and
    largest value."""
    if not len(values):
        return []
    models = values.shape[1]
    counts = np.random.default_rng(seed).multinomial(models, np.full(models, 1 / models), size=draws)
    means = values @ counts.T / models                                      # [pairs, draws]
    low, high = np.quantile(means, [0.025, 0.975], axis=1)
    return [Band(strength=float(m), low=float(lo), high=float(hi))
            for m, lo, hi in zip(values.mean(axis=1), low, high, strict=True)]


def detected_crosses(store: Store, study_id: int, columns: set[str], limit: int = MAX_CROSSES) -> list[list[str]]:
    """``crosses_among`` the study's consensus pairs."""
    return crosses_among(consensus_pairs(store, study_id), columns, limit)


def crosses_among(consensus: list[ConsensusPair], columns: set[str], limit: int = MAX_CROSSES) -> list[list[str]]:
    """The ``consensus`` pairs of two ``columns`` (those a model can cross), strongest first, at most ``limit``:
    what ``cross_source="diagnosed"`` crosses in a study tuned again."""
    return [p["fields"] for p in consensus if p["models"] and set(p["fields"]) <= columns][:limit]
