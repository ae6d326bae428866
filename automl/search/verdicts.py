"""The study's verdict kept up to date: its models' best trials compared on the shared test rows
(``automl.evaluation.comparison``), each over the seeds it ran with, stored in ``cb_verdicts`` so the
leaderboard reads it instead of recomputing it. ``rebuild`` remakes it with the ensemble (both come from
the stored best outputs) after a trial, after a worker's trials and after the seed reruns."""

from __future__ import annotations

import json
import math
import sys
import traceback

import numpy as np

from automl.data.schema import FULL_CORPUS
from automl.evaluation.comparison import COMPARED, Comparison, compare, compared, paired, search_spread
from automl.evaluation.ensemble import from_blend_scale, targets, to_blend_scale
from automl.features.encode import EncodedData
from automl.search import budget, ensembles
from automl.search.allocation import MIN_TRIALS, best_trials
from automl.search.config import StudyConfig
from automl.training.loop import TIME_CAP_NOTE, TIME_LIMIT_NOTE
from storage import Store
from storage.store import loads
from storage.tables import StudyRow, TrialState


def compared_metric(task: str, metric: str, users: np.ndarray | None) -> str:
    """The metric the standings are on: the study's when the comparison has a paired test of it, else the
    task's first (AUC for a study selecting on ECE, HR@K for one on recall@K, the same with one held-out item)."""
    options = compared(task, users, metric)
    return metric if metric in options else options[0]


def under_explored(store: Store, study: StudyRow, metric: str | None = None,
                   spreads: dict[str, float] | None = None) -> dict[str, str]:
    """Models whose figures do not say how good they can be, each with the reason: fewer than MIN_TRIALS
    completed trials (the fair minimum; a time budget that ran out first is named), a best trial the clock
    cut (the per-trial time cap or the study's time limit: its figure says where the clock stopped it, and
    a busier machine stops it elsewhere), the best found on the last of fewer trials than another model
    had (its search was still improving when it stopped), for a model given only its fair minimum, trials
    that disagree more than the models' bests do (the range of its validation values wider than the range of
    every model's best: where its search lands says more than which model it is), or, given the compared test
    ``metric``, a search spread (``search_spreads``) wider than the standard deviation of the models' best test
    figures: another search of its size may well miss the one configuration its figure rests on (``spreads``:
    those spreads when the caller has them)."""
    completed = completed_trials(store, study)
    most = max((len(rows) for rows in completed.values()), default=0)
    best = {row.model: row for row in best_trials(store, study)}
    config = StudyConfig.from_json(study.config_json)
    left = budget.seconds_left(study, config)
    out_of_time = left is not None and left <= 0          # the trials' share of --minutes is over

    def clock(row) -> str | None:
        notes = loads(row.extra_json).get("notes", {})
        return ("its best trial was cut by the per-trial time cap" if TIME_CAP_NOTE in notes else
                "its best trial was cut by the study's time limit" if TIME_LIMIT_NOTE in notes else None)

    values = {model: [v for v in (loads(r.val_json).get(study.metric) for r in rows) if v is not None and math.isfinite(v)]
              for model, rows in completed.items()}
    bests = [min(v) if study.direction == "minimize" else max(v) for v in values.values() if v]
    between = max(bests) - min(bests) if len(bests) > 1 else math.inf
    reasons = {}
    for model, rows in completed.items():
        n, own = len(rows), values[model]
        if n < MIN_TRIALS:
            reasons[model] = (f"{n} completed trial{'s' * (n != 1)} of the fair minimum of {MIN_TRIALS}"
                              + (": the study's time ran out first" if out_of_time else ""))
        elif model in best and clock(best[model]):
            reasons[model] = clock(best[model])
        elif n < most and model in best and best[model].trial_number == max(r.trial_number for r in rows):
            reasons[model] = f"its best came on its last trial, {n} against {most} for others: still improving"
        elif n <= MIN_TRIALS and own and max(own) - min(own) > between:
            reasons[model] = (f"its {n} trials disagree widely ({study.metric} {min(own):.4f} to {max(own):.4f}, wider "
                              "than the spread of every model's best)")
    if metric is None:
        return reasons
    figures = [v for v in (loads(row.test_json).get(metric) for row in best.values()) if v is not None and math.isfinite(v)]
    apart = float(np.std(figures, ddof=1)) if len(figures) > 2 else math.inf
    for model, spread in (spreads if spreads is not None else search_spreads(store, study, metric)).items():
        if model not in reasons and spread > apart:
            reasons[model] = (f"its best rests on one lucky configuration: another search of its size would move its "
                              f"test {metric} by ±{spread:.4f}, more than the models' bests differ (sd {apart:.4f})")
    return reasons


def completed_trials(store: Store, study: StudyRow) -> dict[str, list]:
    """Model -> its completed trials' results, in trial order."""
    completed: dict[str, list] = {}
    for row in store.results(study.id):
        if row.state == TrialState.COMPLETE:
            completed.setdefault(row.model, []).append(row)
    return completed


def search_spreads(store: Store, study: StudyRow, metric: str) -> dict[str, float]:
    """Model -> ``comparison.search_spread`` of its test ``metric`` over its completed trials (those with a
    finite validation figure of the study metric and a finite test ``metric``)."""
    spreads = {}
    for model, rows in completed_trials(store, study).items():
        found = [(loads(r.val_json).get(study.metric), loads(r.test_json).get(metric)) for r in rows]
        found = [f for f in found if f[0] is not None and f[1] is not None and math.isfinite(f[0]) and math.isfinite(f[1])]
        spreads[model] = search_spread([f[0] for f in found], [f[1] for f in found], study.direction == "maximize")
    return spreads


def refresh(store: Store, study: StudyRow, data: EncodedData) -> Comparison | None:
    """Compare the models whose best trial kept its outputs (two at least) and store the result; an implicit
    study with sampled candidates gets the same comparison on the full-corpus ranks beside it."""
    if data.spec.task not in COMPARED:
        return None
    labels, users = (split["test"] for split in targets(data))
    best = {row.model: row.trial_number for row in store.best_outputs(study.id)}
    kept = {row.model: [ensembles.decode_outputs(row.outputs)] for row in store.best_outputs(study.id)}
    for rerun in store.seed_runs(study.id):
        if rerun.state == "done" and rerun.outputs and best.get(rerun.model) == rerun.trial_number:
            kept[rerun.model].append(ensembles.decode_outputs(rerun.outputs))
    runs = {m: r for m, r in usable(kept, "test").items() if len(r[0]) == len(labels)}
    task, metric = data.spec.task, compared_metric(data.spec.task, study.metric, users)
    spreads = search_spreads(store, study, metric)
    unexplored = under_explored(store, study, metric, spreads)
    ranked = [row.model for row in best_trials(store, study) if row.model in runs]     # best on validation first
    leader = next((m for m in ranked if m not in unexplored), ranked[0] if ranked else None)    # the best judged
    if leader is None or len(runs) < 2:
        return None
    comparison = compare(task, metric, labels, runs, {m: best[m] for m in runs}, leader, unexplored, users=users,
                         search_sd=spreads)
    ensemble = ensembles.stored(store, study.id)
    if ensemble is not None and set(ensemble.weights) <= set(runs):
        blend = sum(w * to_blend_scale(task, runs[m][0]) for m, w in ensemble.weights.items())
        comparison.ensemble = paired(task, metric, labels, from_blend_scale(task, blend), runs[leader][0], users)
    full = {m: r for m, r in usable(kept, "test_full").items() if m in runs}
    if set(full) == set(runs) and len({len(r[0]) for r in full.values()}) == 1:
        rows = len(next(iter(full.values()))[0])
        comparison.full_corpus = compare(task, metric, np.zeros(rows), full, {m: best[m] for m in full}, leader,
                                         unexplored, search_sd=search_spreads(store, study, FULL_CORPUS + metric)
                                         ).to_dict()
    store.save_verdict(study.id, json.dumps(comparison.to_dict()))
    return comparison


def usable(kept: dict[str, list[dict[str, np.ndarray]]], name: str) -> dict[str, list[np.ndarray]]:
    """model -> its runs' output set ``name``, for the models whose every run has it, of one length, all finite."""
    runs = {m: [outputs[name] for outputs in sets] for m, sets in kept.items() if all(name in o for o in sets)}
    return {m: r for m, r in runs.items() if len({len(x) for x in r}) == 1 and all(np.isfinite(x).all() for x in r)}


def rebuild(store: Store, study: StudyRow, data: EncodedData, after: str) -> None:
    """Rebuild what is made of the models' stored best outputs — the ensemble (``ensembles.refresh``),
    then this comparison — each best effort: a failure is noted on the study and in the worker's log,
    never costs a trial or the worker. ``after``: what it follows, for the note ("trial 4")."""
    for what, build in (("the ensemble could not be rebuilt", ensembles.refresh),
                        ("the models could not be compared", refresh)):
        try:
            build(store, study, data)
        except Exception as error:   # noqa: BLE001 - both are reports on the trials, which stand
            print(f"{what} after {after}:\n{traceback.format_exc()}", file=sys.stderr, flush=True)
            store.update_study(study.id, message=f"{what} after {after}: {type(error).__name__}: {error}")


def stored(store: Store, study_id: int) -> Comparison | None:
    row = store.verdict(study_id)
    return Comparison.from_dict(json.loads(row.result_json)) if row else None
