"""Which models a study cannot tell apart: every model's best trial scored on the same test rows, each
with a 95% interval, compared pairwise by paired tests on those rows, Holm-corrected over all pairs.

Per-row values make the tests paired: AUC by DeLong's covariance (``significance.delong``); logloss,
squared error (RMSE) and absolute error (MAE) as per-row losses, compared by the mean of their per-row
differences; GAUC by the per-user AUCs, compared by the weighted mean of their per-user differences; the top-K
metrics (implicit studies: one held-out item per user, its rank the output) by the per-user gains
(``ranking.gains``), compared by the mean of their per-user differences. A model run with several seeds is
compared on its seed-averaged outputs (probabilities for ctr, ratings for rating, the per-user gains for
implicit: a mean of ranks is no rank), and the spread of its metric over seeds joins the variance of a difference:
var = var_rows(Δ) + s²_a/n_a + s²_b/n_b (s: the metric's standard deviation over a model's seeds, 0 for a
deterministic model, so a model is never declared different because its seeds agree). A model run once has
no spread of its own: it borrows the study's pooled one (the root mean square of the spreads of the models
run with several seeds; 0 when none was), so two models trained once are not told apart by a gap that a
change of seed could make. A third term is the search's own spread (``search_spread``): where the best of a
model's trials lands is itself a draw — another search of the same size may miss its one lucky configuration —
so var += σ²_search,a + σ²_search,b, σ_search being the standard deviation of the test figure of the
validation-best trial over bootstrap resamples of the model's trials (the card's defaults, which every
study tries first, one draw like the others: a best that is the defaults does not show that no other
configuration beats them).

Standing of each model on the study metric, the leader being the best on validation (test figures only
report): "leader"; "leader group" — no Holm-corrected test separates it from the leader; "behind" — the
test does; "clearly behind" — also its interval and the leader's do not overlap; "under-explored" — too
few trials to judge (the caller says which), whatever its figures: such a model makes no "better than"
claim and is the object of none (its figures say where its search stopped, not what it can do).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from itertools import combinations

import numpy as np

from automl.evaluation import metrics
from automl.evaluation.ranking import DEFAULT_K, compared_metrics, gains
from automl.evaluation.significance import (
    LEVEL,
    auc_interval,
    delong,
    holm,
    mean_interval,
    smallest_detectable,
    two_sided_p,
)

COMPARED = {"ctr": ("auc", "logloss", "gauc"), "rating": ("rmse", "mae"),    # gauc: with users only
            "implicit": compared_metrics(f"ndcg@{DEFAULT_K}")}                  # implicit: at the study's K
LEADER, GROUP, BEHIND, CLEARLY_BEHIND, UNDER_EXPLORED = (
    "leader", "leader group", "behind", "clearly behind", "under-explored")


@dataclass
class Standing:
    model: str
    trial: int
    seeds: int                                   # outputs averaged over this many runs
    test: dict[str, float]                       # metric -> on the seed-averaged outputs
    interval: dict[str, list[float]]             # metric -> [low, high], 95%
    standing: str                                # LEADER, GROUP, BEHIND, CLEARLY_BEHIND or UNDER_EXPLORED
    p_vs_leader: float | None = None             # Holm-adjusted p of the study metric's test with the leader
    better_than: list[str] = field(default_factory=list)     # models it beats significantly (Holm)
    why: str = ""                                # why it is under-explored (the leader: when every model is)
    search_sd: float = 0.0                       # the study metric's spread from the search (``search_spread``)


@dataclass
class Comparison:
    metric: str                                  # the study metric the standings are on
    test: str                                    # how it was compared, in words
    rows: int                                    # test rows shared by every model
    level: float
    detectable: float                            # the smallest difference this test set detects (80% power)
    standings: list[Standing]                    # the leader first, then by test value
    ensemble: dict | None = None                 # {"test", "difference", "p"}: the ensemble against the leader
    full_corpus: dict | None = None              # implicit with sampled candidates: this comparison (to_dict) of
                                                 # the same models ranking every item

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Comparison:
        return cls(**{**data, "standings": [Standing(**s) for s in data["standings"]]})


def paired(task: str, metric: str, labels: np.ndarray, a: np.ndarray, b: np.ndarray,
           users: np.ndarray | None = None) -> dict:
    """{"test": a's metric, "difference": a's minus b's, "p"} of the paired test of two outputs on the same rows."""
    values, _, row_cov = figures(task, metric, labels, {"a": a, "b": b}, users)
    difference, se = values["a"] - values["b"], math.sqrt(max(row_cov("a", "b"), 0.0))
    p = 1.0 if difference == 0 else 0.0 if se == 0 else two_sided_p(difference / se)
    return {"test": values["a"], "difference": difference, "p": p}


def per_row_values(task: str, metric: str, labels: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """[n] per-row values whose mean is ``metric``: losses (RMSE: squared errors, its square root taken
    after) or, for implicit, each user's gain from the rank of its held-out item; implicit ``outputs`` may be
    [S, n], the ranks of S seeds' runs, whose gains are averaged."""
    if task == "implicit":
        return np.atleast_2d(gains(outputs, metric)).mean(axis=0)
    if task == "ctr":
        p = np.clip(metrics.sigmoid(outputs), 1e-7, 1 - 1e-7)
        return -(labels * np.log(p) + (1 - labels) * np.log1p(-p))
    error = np.asarray(outputs, dtype=np.float64) - labels
    return error ** 2 if metric == "rmse" else np.abs(error)


def seed_average(task: str, runs: list[np.ndarray]) -> np.ndarray:
    """The outputs of several seeds' runs [n] averaged on the blend scale (ctr: as probabilities, back to
    logits); implicit: the runs' ranks stacked [S, n], ``per_row_values`` averaging their gains."""
    if task == "implicit":
        return np.vstack(runs)
    if task != "ctr":
        return np.mean(runs, axis=0)
    p = np.clip(np.mean([metrics.sigmoid(r) for r in runs], axis=0), 1e-7, 1 - 1e-7)
    return np.log(p) - np.log1p(-p)


def compare(task: str, metric: str, labels: np.ndarray, runs: dict[str, list[np.ndarray]], trials: dict[str, int],
            leader: str, under_explored: dict[str, str] | None = None, level: float = LEVEL,
            users: np.ndarray | None = None, search_sd: dict[str, float] | None = None) -> Comparison:
    """The standings of the models in ``runs`` (model -> test outputs [n] of each seed's run, its best
    trial's first) on ``metric`` (one of ``compared(task, users, metric)``); ``leader``: the best on validation;
    ``users`` [n]: each row's user, which GAUC is paired by; ``under_explored``: model -> why it is not judged;
    ``search_sd``: model -> the spread of ``metric`` from its search (``search_spread``; 0 when absent)."""
    under_explored = under_explored or {}
    search_sd = {m: (search_sd or {}).get(m, 0.0) for m in runs}
    labels = np.asarray(labels, dtype=np.float64)
    names = list(runs)
    averaged = {m: seed_average(task, runs[m]) for m in names}
    seed_sd = {m: seed_spread(task, metric, labels, runs[m], users) for m in names}
    repeated = [seed_sd[m] ** 2 for m in names if len(runs[m]) > 1]
    pooled = math.sqrt(float(np.mean(repeated))) if repeated else 0.0
    seed_sd = {m: sd if len(runs[m]) > 1 else pooled for m, sd in seed_sd.items()}    # a single run borrows it
    values, intervals, row_cov = figures(task, metric, labels, averaged, users)
    others = {m: {k: metric_interval(task, k, labels, averaged[m], users) for k in compared(task, users, metric)}
              for m in names}
    pairs = list(combinations(names, 2))
    z_of, se_of = {}, {}
    for a, b in pairs:
        variance = (row_cov(a, b) + seed_sd[a] ** 2 / len(runs[a]) + seed_sd[b] ** 2 / len(runs[b])
                    + search_sd[a] ** 2 + search_sd[b] ** 2)
        se_of[a, b] = math.sqrt(max(variance, 0.0))
        gap = values[a] - values[b]
        z_of[a, b] = 0.0 if gap == 0 else (math.copysign(math.inf, gap) if se_of[a, b] == 0 else gap / se_of[a, b])
    adjusted = dict(zip(pairs, holm([two_sided_p(z_of[p]) for p in pairs]), strict=True))
    sign = 1.0 if metrics.direction(metric) == "maximize" else -1.0
    standings = []
    judged = [m for m in names if m not in under_explored]     # an under-explored model makes no claim and gets none
    for m in names:
        beats = [o for o in judged if o != m and m in judged and p_between(adjusted, m, o) < level
                 and sign * (values[m] - values[o]) > 0]
        p = None if m == leader else p_between(adjusted, m, leader)
        standings.append(Standing(m, trials[m], len(runs[m]), {**{k: v[0] for k, v in others[m].items()},
                                                                metric: values[m]},
                                  {**{k: [v[1], v[2]] for k, v in others[m].items()}, metric: intervals[m]},
                                  standing_of(m, leader, p, intervals, under_explored, level, sign), p, beats,
                                  under_explored.get(m, ""), search_sd[m]))
    order = {LEADER: 0}
    standings.sort(key=lambda s: (order.get(s.standing, 1), -sign * s.test[metric]))
    leader_se = [se_of[p] for p in pairs if leader in p]
    return Comparison(metric, test_words(task, metric), len(labels), level,
                      smallest_detectable(float(np.median(leader_se)), level) if leader_se else float("nan"),
                      standings)


TEST_WORDS = {("ctr", "auc"): "DeLong's paired test on the shared test rows",
              ("ctr", "gauc"): "paired z-test of per-user AUCs (weighted by the user's rows) on the shared test rows",
              ("ctr", "logloss"): "paired z-test of per-row log losses on the shared test rows",
              ("rating", "rmse"): "paired z-test of per-row squared errors on the shared test rows",
              ("rating", "mae"): "paired z-test of per-row absolute errors on the shared test rows"}


def test_words(task: str, metric: str) -> str:
    """How ``metric`` is compared, in words."""
    if task == "implicit":
        return f"paired z-test of per-user {metric} (one held-out item each) on the shared test users"
    return TEST_WORDS[task, metric]


def p_between(adjusted: dict, a: str, b: str) -> float:
    return adjusted[(a, b)] if (a, b) in adjusted else adjusted[(b, a)]


def standing_of(model: str, leader: str, p: float | None, intervals: dict, under_explored: dict[str, str],
                level: float, sign: float) -> str:
    if model == leader:
        return LEADER
    if model in under_explored:
        return UNDER_EXPLORED
    if p is None or p >= level:
        return GROUP
    low, high = intervals[model]
    lead_low, lead_high = intervals[leader]
    apart = high < lead_low if sign > 0 else low > lead_high
    return CLEARLY_BEHIND if apart else BEHIND


def compared(task: str, users: np.ndarray | None, metric: str | None = None) -> tuple[str, ...]:
    """The metrics a task's models are compared on: GAUC only with users to pair by; implicit: at the K of the
    study ``metric``."""
    if task == "implicit":
        return compared_metrics(metric) if metric else COMPARED[task]
    return tuple(m for m in COMPARED[task] if m != "gauc" or users is not None)


def figures(task: str, metric: str, labels: np.ndarray, outputs: dict[str, np.ndarray],
            users: np.ndarray | None = None):
    """(metric value per model, its [low, high] per model, row_cov(a, b): the variance, over the rows
    (over the users for GAUC), of the difference a − b of the metric)."""
    names = list(outputs)
    if metric == "gauc":
        return per_user_figures(labels, outputs, users)
    if metric == "auc":
        aucs, cov = delong(np.vstack([outputs[m] for m in names]), labels)
        index = {m: i for i, m in enumerate(names)}
        values = {m: float(aucs[index[m]]) for m in names}
        intervals = {m: list(auc_interval(values[m], cov[index[m], index[m]])) for m in names}
        return values, intervals, lambda a, b: cov[index[a], index[a]] + cov[index[b], index[b]] - 2 * cov[index[a], index[b]]
    losses = {m: per_row_values(task, metric, labels, outputs[m]) for m in names}
    ceiling = 1.0 if task == "implicit" else math.inf        # a top-K metric is a share
    values, intervals = {}, {}
    for m in names:
        mean, low, high = mean_interval(losses[m])
        values[m], intervals[m] = rooted(metric, mean), [rooted(metric, max(low, 0.0)), rooted(metric, min(high, ceiling))]

    def row_cov(a: str, b: str) -> float:
        difference = losses[a] - losses[b]
        variance = float(difference.var(ddof=1)) / len(difference) if len(difference) > 1 else 0.0
        if metric != "rmse":
            return variance
        scale = 2 * math.sqrt(max(float(losses[a].mean()), 1e-12))     # delta method: d sqrt(x) = dx / (2 sqrt(x))
        return variance / scale ** 2
    return values, intervals, row_cov


def rooted(metric: str, value: float) -> float:
    return math.sqrt(value) if metric == "rmse" else value


def per_user_figures(labels: np.ndarray, outputs: dict[str, np.ndarray], users: np.ndarray):
    """``figures`` of GAUC: each model's per-user AUCs (the users with both classes, the same for every
    model) weighted by the user's rows; the variance of a weighted mean of per-user values is
    Σ w²(x − x̄)² / (Σ w)²."""
    per_user = {m: metrics.per_user_auc(labels, o, users) for m, o in outputs.items()}

    def weighted(values: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
        mean = float((values * weights).sum() / weights.sum())
        return mean, float(((weights * (values - mean)) ** 2).sum() / weights.sum() ** 2)

    values, intervals, variance = {}, {}, {}
    for m, (aucs, weights) in per_user.items():
        values[m], variance[m] = weighted(aucs, weights)
        intervals[m] = list(auc_interval(values[m], variance[m]))

    def row_cov(a: str, b: str) -> float:
        return weighted(per_user[a][0] - per_user[b][0], per_user[a][1])[1]
    return values, intervals, row_cov


def metric_interval(task: str, metric: str, labels: np.ndarray, outputs: np.ndarray,
                    users: np.ndarray | None = None) -> tuple[float, float, float]:
    """(value, low, high) of one model's metric on its own."""
    values, intervals, _ = figures(task, metric, labels, {"m": outputs}, users)
    return values["m"], *intervals["m"]


def search_spread(validation: list[float], test: list[float], maximize: bool, draws: int = 2000,
                  seed: int = 0) -> float:
    """The standard deviation of the test figure of the validation-best trial over ``draws`` bootstrap
    resamples of a model's trials (``validation``, ``test``: one value per completed trial, in the same
    order; ``maximize``: the direction of the validation metric). Every trial is one draw of what a search
    lands on, the card's defaults (enqueued first in every study) included: a search whose best is its
    defaults has not shown that no other configuration beats them, and another search may find one. 0 with
    fewer than two trials (such a model is under-explored and judged by nobody)."""
    validation, test = np.asarray(validation, dtype=np.float64), np.asarray(test, dtype=np.float64)
    if len(validation) < 2:
        return 0.0
    picks = np.random.default_rng(seed).integers(0, len(validation), size=(draws, len(validation)))
    score = validation[picks] if maximize else -validation[picks]
    landed = test[picks[np.arange(draws), score.argmax(axis=1)]]
    return 0.0 if landed.min() == landed.max() else float(landed.std(ddof=1))     # no float dust for one value


def seed_spread(task: str, metric: str, labels: np.ndarray, runs: list[np.ndarray],
                users: np.ndarray | None = None) -> float:
    """The standard deviation of ``metric`` over the seeds' runs (0 with one run)."""
    if len(runs) < 2:
        return 0.0
    if metric == "auc":
        scores = [metrics.auc(labels, r) for r in runs]
    elif metric == "gauc":
        scores = [metrics.gauc(labels, r, users) for r in runs]
    else:
        scores = [rooted(metric, float(per_row_values(task, metric, labels, r).mean())) for r in runs]
    return float(np.std(scores, ddof=1))

