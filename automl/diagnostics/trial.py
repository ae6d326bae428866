"""One trial's diagnostics, computed from the fitted model on a validation sample: the
model-agnostic pair interactions and field importances (``automl.diagnostics.agnostic``), and,
where the model has them (``RecModel.interactions``), its own pair terms with their rank
agreement with the agnostic pairs, its attention over the behavior history and the share of the
logit carried by its wide and deep parts. The result is a JSON-ready dict (``diagnose``)."""

from __future__ import annotations

import time
from itertools import combinations

import numpy as np
import torch
from scipy.stats import spearmanr

from automl.diagnostics.agnostic import (
    DEFAULT_SETTINGS,
    Settings,
    conditioned_interactions,
    field_importance,
    pair_interactions,
    quality,
)
from automl.diagnostics.data_pairs import data_pairs, joint_codes
from automl.diagnostics.fields import Batch, Field, schema_fields, take
from automl.diagnostics.results import Band, DependencyInfo, PairBand, PairStrength, Quality
from automl.diagnostics.shadows import conditions, dependent, fold, named_dependencies
from automl.features.encode import EncodedData
from automl.training.predict import model_outputs
from models.base import RecModel

SAMPLE_ROWS = 8192          # validation rows the diagnostics draw from
EXAMPLE_ROWS = 8            # rows whose history attention is kept for display


def diagnose(model, data: EncodedData, settings: Settings = DEFAULT_SETTINGS) -> dict:
    """{"rows", "seconds", "metric", "fields", "pairs", "intrinsic", "agreement", "attention"?, "share"?,
    "dependencies", "folded", "data", "quality"} for a fitted model (a ``RecModel`` or a tree ensemble) on
    ``data``'s validation split (``results.TrialDiagnostics``)."""
    started = time.perf_counter()
    val = data.splits["val"]
    n_val = val["label"].shape[0]
    order = torch.randperm(n_val, generator=torch.Generator().manual_seed(settings.seed))[:SAMPLE_ROWS]
    sample = take(val, order.to(val["label"].device))
    if data.streams_to("val") is not None:       # a split left in host memory: its sample goes to the model's device
        sample = {k: v.to(data.device) for k, v in sample.items()}
    fields = schema_fields(data.spec, sample)

    def score(batch: Batch) -> np.ndarray:
        return model_outputs(model, batch)

    importance = field_importance(score, sample, fields, data.spec.task, settings)
    rank = {r["field"]: k for k, r in enumerate(importance)}
    candidates = sorted(range(len(fields)), key=lambda i: rank[fields[i].name])[:settings.max_pair_fields]
    pairs = pair_interactions(score, sample, fields, sorted(candidates), settings)
    dependencies = named_dependencies(data.spec.dependencies, [f.name for f in data.spec.fields])
    conditioned = conditioned_pairs(score, sample, fields, sorted(candidates), dependencies, data, settings)
    result = {"rows": int(sample["label"].shape[0]), "metric": "rmse" if data.spec.task == "rating" else "auc",
              "fields": importance, "pairs": pairs, "pair_fields": len(candidates), "of_fields": len(fields),
              "intrinsic": {}, "agreement": {}, "dependencies": dependencies,
              "folded": fold(pairs, conditioned, dependencies),
              "data": data_pairs(data, fields, dependencies, settings),
              "quality": validation_quality(score(sample), sample, data)}
    if isinstance(model, RecModel):
        result.update(intrinsic_views(model, take(sample, torch.arange(min(2048, len(order)),
                                                                        device=sample["label"].device)),
                                      data, pairs))
    result["seconds"] = time.perf_counter() - started
    return result


def conditioned_pairs(score, sample: Batch, fields: list[Field], candidates: list[int],
                      dependencies: list[DependencyInfo], data: EncodedData, settings: Settings) -> dict[frozenset, Band]:
    """Pair -> its conditioned band (``agnostic.conditioned_interactions``) for the pairs of ``candidates`` with a
    field that determines others (and no map between the two): each such field's reference drawn from the rows
    that share the values of the fields it determines."""
    names = [f.name for f in fields]
    columns = {f.name: j for j, f in enumerate(data.spec.fields)}
    pairs = [(i, j) for i, j in combinations(candidates, 2) if conditions([names[i], names[j]], dependencies)
             and dependent(names[i], names[j], dependencies) is None]
    held_fixed = {name: below for i, j in pairs for name, below in conditions([names[i], names[j]], dependencies).items()}
    groups = {names.index(name): joint_codes(sample["cat"][:, [columns[f] for f in below]].cpu().numpy())
              for name, below in held_fixed.items()}
    bands = conditioned_interactions(score, sample, fields, pairs, groups, settings) if pairs else []
    return {frozenset((names[i], names[j])): b for (i, j), b in zip(pairs, bands, strict=True)}


def validation_quality(outputs: np.ndarray, sample: Batch, data: EncodedData) -> Quality:
    """The model's quality on the validation sample beside the constant predictor's: AUC (constant 0.5), or
    RMSE for ratings (constant: the training mean rating's RMSE)."""
    labels = sample["label"].double().cpu().numpy()
    if data.spec.task == "rating":
        return Quality(metric="rmse", model=-quality("rating", labels, outputs),
                       constant=float(np.sqrt(np.mean((labels - data.spec.label_mean) ** 2))))
    return Quality(metric="auc", model=quality(data.spec.task, labels, outputs), constant=0.5)


def intrinsic_views(model: RecModel, batch: Batch, data: EncodedData, pairs: list[PairBand]) -> dict:
    """The model's own hook, run in eval mode without gradients: "intrinsic" (method -> pairs,
    strongest first), "agreement" (method -> Spearman's rho with the agnostic strengths over the
    pairs both rank), "attention" and "share" where the model has them."""
    model.eval()
    with torch.no_grad():
        views = model.interactions(batch)
    names = model.interaction_names() if any(k.startswith("pairs:") for k in views) else []
    out: dict = {"intrinsic": {}, "agreement": {}}
    agnostic = {frozenset(p["fields"]): p["strength"] for p in pairs}
    for key, matrix in views.items():
        if not key.startswith("pairs:"):
            continue
        method = key.removeprefix("pairs:")
        ranked = matrix_pairs(matrix.double().cpu().numpy(), names)
        out["intrinsic"][method] = ranked
        common = [(r["strength"], agnostic[frozenset(r["fields"])]) for r in ranked
                  if frozenset(r["fields"]) in agnostic]
        if len(common) >= 3:
            rho = spearmanr(*zip(*common, strict=True)).statistic
            out["agreement"][method] = None if np.isnan(rho) else float(rho)
    if "history_attention" in views:
        out["attention"] = attention_summary(views["history_attention"].double().cpu(), batch, data)
    if "wide_logit" in views and "deep_logit" in views:
        wide, deep = (views[k].double().cpu().numpy() for k in ("wide_logit", "deep_logit"))
        total = float(np.var(wide) + np.var(deep))
        out["share"] = {"wide": float(np.var(wide)) / total if total > 0 else 0.0,
                        "deep": float(np.var(deep)) / total if total > 0 else 0.0,
                        "correlation": float(np.corrcoef(wide, deep)[0, 1]) if total > 0 else 0.0}
    return out


def matrix_pairs(matrix: np.ndarray, names: list[str]) -> list[PairStrength]:
    """An [F, F] symmetric strength matrix -> ``{"fields": [a, b], "strength"}`` per pair i < j,
    strongest first (pairs of one name with itself, e.g. a column's value and bucket, dropped)."""
    ranked = [{"fields": [names[i], names[j]], "strength": float(matrix[i, j])}
              for i, j in combinations(range(len(names)), 2) if names[i] != names[j]]
    return sorted(ranked, key=lambda r: -r["strength"])


def attention_summary(weights: torch.Tensor, batch: Batch, data: EncodedData) -> dict:
    """From history weights [B, L] (rows sum to 1 over real steps): the mean weight by recency
    (index 0 = the newest step) times the history length (1 = uniform attention), the same by
    whether a step shares each of the candidate's history attributes, and a few example rows."""
    history = data.spec.history
    lengths = batch["hist_len"].cpu()
    steps = torch.arange(weights.shape[1])
    real = steps.unsqueeze(0) < lengths.unsqueeze(1)
    relative = weights * lengths.unsqueeze(1).double()          # 1 = the uniform weight
    recency = (lengths.unsqueeze(1) - 1 - steps.unsqueeze(0)).clamp(min=0)
    by_recency = [float(relative[real & (recency == k)].mean()) if (real & (recency == k)).any() else None
                  for k in range(weights.shape[1])]
    shares = {}
    for a, field_index in enumerate(history.field_index):
        same = real & (batch[f"hist{a}"].cpu() == batch["cat"][:, field_index].cpu().unsqueeze(1))
        other = real & ~same
        shares[data.spec.fields[field_index].name] = {
            "same": float(relative[same].mean()) if same.any() else None,
            "other": float(relative[other].mean()) if other.any() else None,
            "same_steps": int(same.sum()), "other_steps": int(other.sum())}
    a = len(history.field_index) - 1                 # the most general attribute (e.g. category, else the item)
    same = (batch[f"hist{a}"].cpu() == batch["cat"][:, history.field_index[a]].cpu().unsqueeze(1))
    examples = [{"weights": [round(float(w), 4) for w in weights[b, :int(lengths[b])]],
                 "shares": [bool(x) for x in same[b, :int(lengths[b])]],
                 "attribute": data.spec.fields[history.field_index[a]].name}
                for b in range(weights.shape[0]) if lengths[b] > 1][:EXAMPLE_ROWS]
    return {"by_recency": by_recency, "by_attribute": shares, "examples": examples}

