"""Model-agnostic diagnostics of any scorer f: batch -> outputs [n] on the logit (ctr, implicit)
or rating scale.

Pair interaction (ArchDetect's mixed difference, Tsang et al., 2020, averaged over rows): for
rows x and reference rows x′ drawn from the validation split,

    δ_ij(x, x′) = f(x) − f(x with i←x′_i) − f(x with j←x′_j) + f(x with i,j←x′),
    strength_ij = mean over rows of δ_ij² / variance of f(x) over the same rows,

which is exactly zero when f is additive in fields i and j (f = g(x without i) + h(x without j)),
and the share of f's variance a pure i×j interaction term contributes, roughly, otherwise. Each
of ``repeats`` draws new rows and references; the band is mean ± 2 standard errors over them.

Conditioned pair interaction: the same mixed difference with field i's reference value drawn from a
row that shares the values of the fields i determines (item_id swapped only for another item of the
same category), so the part of i's effect that those fields carry is held fixed
(``conditioned_interactions``; ``automl.diagnostics.shadows`` reads it).

Field importance: permutation importance, the drop of the validation quality (AUC, or RMSE's
rise for ratings) when one field's values are shuffled across the sample rows, with the same
band over ``repeats`` shuffles.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import torch

from automl.diagnostics.fields import Batch, Field, concat, take, with_values_of
from automl.diagnostics.results import Band, FieldBand, PairBand
from automl.evaluation.metrics import auc

Scorer = Callable[[Batch], np.ndarray]
SCORE_ROWS = 16_384            # rows per scorer call when many modified copies are scored together


@dataclass(frozen=True)
class Settings:
    """``pair_rows`` rows (and as many references) per repeat; ``importance_rows`` rows for the
    permutation importance; pairs among the ``max_pair_fields`` most important fields only."""

    pair_rows: int = 512
    importance_rows: int = 4096
    repeats: int = 3
    max_pair_fields: int = 20
    seed: int = 0


DEFAULT_SETTINGS = Settings()


def band(values: list[float]) -> Band:
    """{"strength", "low", "high"}: the mean and mean ± 2 standard errors over repeats."""
    mean = float(np.mean(values))
    se = float(np.std(values, ddof=1) / math.sqrt(len(values))) if len(values) > 1 else 0.0
    return Band(strength=mean, low=mean - 2 * se, high=mean + 2 * se)


def score_all(score: Scorer, batches: list[Batch]) -> list[np.ndarray]:
    """Score several same-size batches, concatenated into calls of about ``SCORE_ROWS`` rows."""
    if not batches:
        return []
    n = next(iter(batches[0].values())).shape[0]
    per_call = max(1, SCORE_ROWS // max(n, 1))
    outputs: list[np.ndarray] = []
    for start in range(0, len(batches), per_call):
        group = batches[start:start + per_call]
        outputs.extend(np.split(score(concat(group)), len(group)))
    return outputs


def pair_interactions(score: Scorer, sample: Batch, fields: list[Field], candidates: list[int],
                      settings: Settings) -> list[PairBand]:
    """Every pair of ``candidates`` (indices into ``fields``), strongest first:
    ``{"fields": [a, b], "strength", "low", "high"}`` (module docstring)."""
    pairs = list(combinations(candidates, 2))
    table = strength_table(score, sample, fields, pairs, {}, settings)
    ranked = [{"fields": [fields[i].name, fields[j].name], **_clipped(band(list(table[:, p])))}
              for p, (i, j) in enumerate(pairs)]
    return sorted(ranked, key=lambda r: -r["strength"])


def conditioned_interactions(score: Scorer, sample: Batch, fields: list[Field], pairs: list[tuple[int, int]],
                             groups: dict[int, np.ndarray], settings: Settings) -> list[Band]:
    """The mixed difference of each of ``pairs`` (indices into ``fields``) with the reference value of each
    field k in ``groups`` drawn from a sample row of the same group (``groups[k]``: int64 codes [n] of the
    sample's rows, e.g. the fields k determines), so what the group carries is held fixed; the same rows and,
    for the other fields, the same references as ``pair_interactions``. One band per pair, in order."""
    table = strength_table(score, sample, fields, pairs, groups, settings)
    return [_clipped(band(list(table[:, p]))) for p in range(len(pairs))]


def strength_table(score: Scorer, sample: Batch, fields: list[Field], pairs: list[tuple[int, int]],
                   groups: dict[int, np.ndarray], settings: Settings) -> np.ndarray:
    """[repeats, pairs] strengths: mean δ² over the rows / variance of f (module docstring), references of the
    fields in ``groups`` drawn within their group (``conditioned_interactions``)."""
    n_total = next(iter(sample.values())).shape[0]
    n = min(settings.pair_rows, n_total)
    involved = sorted({k for pair in pairs for k in pair})
    generator = torch.Generator().manual_seed(settings.seed)
    within = np.random.default_rng(settings.seed + 2)
    device = _device(sample)
    per_repeat: list[np.ndarray] = []
    for _ in range(settings.repeats):
        order = torch.randperm(n_total, generator=generator)
        chosen = order[:n]
        others = order[n:2 * n] if n_total >= 2 * n else chosen[torch.randperm(n, generator=generator)]
        rows, reference = take(sample, chosen.to(device)), take(sample, others.to(device))
        references = {k: take(sample, torch.as_tensor(same_group(groups[k], chosen.numpy(), within), device=device))
                      if k in groups else reference for k in involved}
        singles = [with_values_of(rows, references[k], [fields[k]]) for k in involved]
        doubles = [with_values_of(with_values_of(rows, references[i], [fields[i]]), references[j], [fields[j]])
                   for i, j in pairs]
        base, *outs = score_all(score, [rows, *singles, *doubles])
        single = dict(zip(involved, outs[:len(involved)], strict=True))
        variance = float(np.var(base))
        strengths = [float(np.mean((base - single[i] - single[j] + both) ** 2)) / variance if variance > 0 else 0.0
                     for (i, j), both in zip(pairs, outs[len(involved):], strict=True)]
        per_repeat.append(np.asarray(strengths))
    return np.stack(per_repeat) if per_repeat else np.zeros((0, len(pairs)))


def same_group(groups: np.ndarray, chosen: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each of the ``chosen`` rows [n], another row of the same group (``groups``: codes [n_total]), drawn
    at random; the row itself when it is alone in its group."""
    order = np.argsort(groups, kind="stable")
    position = np.empty_like(order)
    position[order] = np.arange(len(order))
    start = np.searchsorted(groups[order], groups[chosen], "left")
    size = np.searchsorted(groups[order], groups[chosen], "right") - start
    pick = start + (rng.random(len(chosen)) * np.maximum(size - 1, 0)).astype(np.int64)
    pick = np.where(size > 1, pick + (pick >= position[chosen]), position[chosen])
    return order[pick]


def quality(task: str, labels: np.ndarray, outputs: np.ndarray) -> float:
    """Higher is better: AUC (ctr, implicit) or −RMSE (rating); NaN when AUC is undefined."""
    if task == "rating":
        return -float(np.sqrt(np.mean((outputs - labels) ** 2)))
    return auc(labels, outputs)


def field_importance(score: Scorer, sample: Batch, fields: list[Field], task: str,
                     settings: Settings) -> list[FieldBand]:
    """Permutation importance of every field, strongest first:
    ``{"field": a, "importance", "low", "high"}`` in units of the quality (AUC or RMSE)."""
    n_total = next(iter(sample.values())).shape[0]
    rows = take(sample, torch.arange(min(settings.importance_rows, n_total), device=_device(sample)))
    n = next(iter(rows.values())).shape[0]
    labels = rows["label"].double().cpu().numpy()
    base = quality(task, labels, score(rows))
    generator = torch.Generator().manual_seed(settings.seed + 1)
    drops: list[list[float]] = [[] for _ in fields]
    for _ in range(settings.repeats):
        shuffled = take(rows, torch.randperm(n, generator=generator).to(_device(sample)))
        outs = score_all(score, [with_values_of(rows, shuffled, [f]) for f in fields])
        for k, out in enumerate(outs):
            drops[k].append(base - quality(task, labels, out))
    ranked = [{"field": f.name, **_renamed(band(d), "importance")} for f, d in zip(fields, drops, strict=True)]
    return sorted(ranked, key=lambda r: -(r["importance"] if not math.isnan(r["importance"]) else -math.inf))


def _clipped(estimate: Band) -> Band:
    return {**estimate, "low": max(0.0, estimate["low"])}


def _renamed(estimate: Band, name: str) -> dict[str, float]:
    return {name: estimate["strength"], "low": estimate["low"], "high": estimate["high"]}


def _device(batch: Batch) -> torch.device:
    return next(iter(batch.values())).device
