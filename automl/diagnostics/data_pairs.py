"""A model-free voter on which field pairs interact, from the training rows alone (after FAST, Lou et
al., 2013: rank pairs by what they add to an additive model's residuals).

On ``DATA_ROWS`` training rows drawn at random, split in halves A (fit) and B (score): an additive model
of the label (each field's effect a mean of the residual per value, shrunk toward 0 by ``SHRINK``
pseudo-rows, fitted by ``SWEEPS`` rounds of backfitting on A) leaves residuals r; a pair's effect is the
shrunk mean of r in each of its value cells on A (the residuals hold no field mean, so this is what the
two fields add together), and its strength is the reduction of B's squared residual by that effect, as a
share of the label's variance on B:

    strength_ij = (mean_B r² − mean_B (r − cell_ij)²) / var_B(y)

Scoring on rows the cells were not fitted on keeps crosses of many-valued fields (user × item) from
winning by overfitting: their cells are empty or noisy on B, and they gain nothing or lose. The band is
mean ± 2 standard errors over ``Settings.repeats`` random draws, clipped at 0. A numeric column enters
as its quantile bucket; sequences and histories are left out.

Conditioned (for shadows, ``automl.diagnostics.shadows``): a pair (X, S) where S determines D is scored
on the residuals less the cell effect of (X's determined fields or X, S's determined fields), so what the
determined fields carry is held fixed, as the models' conditioned mixed difference does.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from automl.diagnostics.agnostic import Settings, band
from automl.diagnostics.fields import Field
from automl.diagnostics.results import Band, DataPairs, DependencyInfo
from automl.diagnostics.shadows import conditions, dependent, fold
from automl.features.encode import EncodedData

DATA_ROWS = 40_000
SHRINK = 5.0
SWEEPS = 4


def data_pairs(data: EncodedData, fields: list[Field], dependencies: list[DependencyInfo],
               settings: Settings) -> DataPairs:
    """The module docstring's pairs of the fields with a categorical code or a bucket (at most
    ``settings.max_pair_fields``, those with the largest main effects), folded with ``dependencies``."""
    train = data.splits["train"]
    coded = [(f.name, codes_of(train, f)) for f in fields]
    coded = [(name, c) for name, c in coded if c is not None]
    y_all = train["label"].double().cpu().numpy()
    n = len(y_all)
    if n < 4 or len(coded) < 2:
        return DataPairs(pairs=[], rows=n, folded=[], shadows=[], not_interactions=[])
    rng = np.random.default_rng(settings.seed)
    names = [name for name, _ in coded]
    strengths: list[dict[frozenset, float]] = []
    chosen = None
    for _ in range(settings.repeats):
        rows = rng.choice(n, min(n, DATA_ROWS), replace=False)
        half = len(rows) // 2
        x = np.stack([c[rows] for _, c in coded])                     # [K, m]
        y = y_all[rows]
        fit, held = slice(0, half), slice(half, None)
        effects = additive(x[:, fit], y[fit], x.max(axis=1) + 1)
        r_fit = y[fit] - y[fit].mean() - sum(e[k] for e, k in zip(effects, x[:, fit], strict=True))
        r_held = y[held] - y[fit].mean() - sum(e[k] for e, k in zip(effects, x[:, held], strict=True))
        if chosen is None:
            spread = [float(np.var(e[k])) for e, k in zip(effects, x[:, fit], strict=True)]
            chosen = sorted(np.argsort(spread)[::-1][:settings.max_pair_fields])
        scale = float(np.var(y[held])) or 1.0
        found = {}
        for i, j in combinations(chosen, 2):
            key = frozenset((names[i], names[j]))
            found[key] = gain(cell(x[i], x[j]), r_fit, r_held, fit, held) / scale
            held_fixed = conditions([names[i], names[j]], dependencies)
            if held_fixed and dependent(names[i], names[j], dependencies) is None:
                base = cell(*(group_code(x, names, f, held_fixed) for f in (names[i], names[j])))
                effect = cell_effect(base[fit], r_fit, base)
                found[("conditioned", key)] = gain(cell(x[i], x[j]), r_fit - effect[fit], r_held - effect[held],
                                                   fit, held) / scale
        strengths.append(found)
    pairs = [{"fields": sorted(key), **non_negative(band([s[key] for s in strengths]))}
             for key in strengths[0] if isinstance(key, frozenset)]
    pairs.sort(key=lambda p: -p["strength"])
    conditioned = {key: non_negative(band([s[("conditioned", key)] for s in strengths]))
                   for key in strengths[0] if isinstance(key, frozenset) and ("conditioned", key) in strengths[0]}
    return DataPairs(pairs=pairs, rows=min(n, DATA_ROWS), **fold(pairs, conditioned, dependencies))


def codes_of(batch: dict, field: Field) -> np.ndarray | None:
    """A field's int64 codes [n]: its categorical column, or a numeric column's bucket; None for others."""
    for key, column in field.slots:
        if key in ("cat", "num_bkt"):
            return batch[key][:, column].cpu().numpy().astype(np.int64)
    return None


def additive(x: np.ndarray, y: np.ndarray, widths: np.ndarray) -> list[np.ndarray]:
    """Each field's shrunk effect per value [widths_k] (codes ``x`` [K, m], label ``y`` [m]), by backfitting."""
    residual = y - y.mean()
    effects = [np.zeros(int(w)) for w in widths]
    for _ in range(SWEEPS):
        for k, codes in enumerate(x):
            partial = residual + effects[k][codes]
            effects[k] = np.bincount(codes, partial, len(effects[k])) / (np.bincount(codes, None, len(effects[k]))
                                                                          + SHRINK)
            residual = partial - effects[k][codes]
    return effects


def cell(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """One int64 code per (a, b) value cell [m]."""
    return a * (int(b.max()) + 1) + b


def cell_effect(fit_cells: np.ndarray, residual: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """The shrunk mean residual of each cell on the fitted rows, looked up for ``cells`` [m] (0 if unseen)."""
    known, index = np.unique(fit_cells, return_inverse=True)
    effect = np.bincount(index, residual) / (np.bincount(index) + SHRINK)
    where = np.clip(np.searchsorted(known, cells), 0, len(known) - 1)
    return np.where(known[where] == cells, effect[where], 0.0)


def gain(cells: np.ndarray, r_fit: np.ndarray, r_held: np.ndarray, fit: slice, held: slice) -> float:
    """The reduction of the held-out mean squared residual by the cells' effect fitted on the fit rows."""
    effect = cell_effect(cells[fit], r_fit, cells[held])
    return float(np.mean(r_held ** 2) - np.mean((r_held - effect) ** 2))


def group_code(x: np.ndarray, names: list[str], field: str, held_fixed: dict[str, list[str]]) -> np.ndarray:
    """The codes [m] a conditioned field is replaced by: its determined fields' joint value, else itself."""
    keep = [names.index(f) for f in held_fixed.get(field, [field]) if f in names] or [names.index(field)]
    return joint_codes(x[keep].T)


def joint_codes(columns: np.ndarray) -> np.ndarray:
    """One int64 code per row [n] for the distinct rows of int codes [n, k]."""
    return np.unique(columns, axis=0, return_inverse=True)[1].reshape(-1)


def non_negative(estimate: Band) -> Band:
    return Band(strength=max(0.0, estimate["strength"]), low=max(0.0, estimate["low"]),
                high=max(0.0, estimate["high"]))
