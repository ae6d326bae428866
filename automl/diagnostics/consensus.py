"""The study's consensus on which field pairs interact: the pair strengths of each model's best
trial (its stored diagnostics), each scaled by that model's strongest pair (so every model counts
once, whatever its scale), averaged over the models; a pair a model did not rank, or ranked below
``NOISE_FLOOR`` (float rounding of an additive model), counts 0 for it. The band is mean ± 2
standard errors over the models."""

from __future__ import annotations

import json

from automl.diagnostics.agnostic import band
from automl.diagnostics.results import ConsensusPair, PairBand
from models.spec import MAX_CROSSES
from storage import Store

NOISE_FLOOR = 1e-6      # a pair strength below this share of the output's variance is no interaction


def model_best_pairs(store: Store, study_id: int) -> dict[str, list[PairBand]]:
    """Model -> the agnostic pairs of its best trial, for the models whose best has diagnostics."""
    best = {a.model: a.trial_number for a in store.artifacts(study_id)}
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
    ranked = []
    for key, by_model in scaled.items():
        values = [by_model.get(m, 0.0) for m in per_model]
        if not any(values):
            continue
        estimate = band(values)
        ranked.append({"fields": list(key), **estimate, "low": max(0.0, estimate["low"]),
                       "models": sum(v > 0 for v in by_model.values())})
    return sorted(ranked, key=lambda r: -r["strength"])


def detected_crosses(store: Store, study_id: int, columns: set[str], limit: int = MAX_CROSSES) -> list[list[str]]:
    """The consensus pairs of two ``columns`` (those a model can cross), strongest first, at
    most ``limit``: what ``cross_source="diagnosed"`` crosses in a study tuned again."""
    pairs = [p["fields"] for p in consensus_pairs(store, study_id) if p["models"] and set(p["fields"]) <= columns]
    return pairs[:limit]
