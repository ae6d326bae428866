"""The study's verdict kept up to date: its models' best trials compared on the shared test rows
(``automl.evaluation.comparison``), each over the seeds it ran with, stored in ``cb_verdicts`` so the
leaderboard reads it instead of recomputing it. ``rebuild`` remakes it with the ensemble (both come from
the stored best outputs) after a trial, after a worker's trials and after the seed reruns."""

from __future__ import annotations

import json
import sys
import traceback

import numpy as np

from automl.evaluation.comparison import COMPARED, Comparison, compare, compared, paired
from automl.evaluation.ensemble import from_blend_scale, targets, to_blend_scale
from automl.features.encode import EncodedData
from automl.search import ensembles
from automl.search.allocation import MIN_TRIALS, best_trials
from automl.training.loop import TIME_CAP_NOTE, TIME_LIMIT_NOTE
from storage import Store
from storage.store import loads
from storage.tables import StudyRow, TrialState


def compared_metric(task: str, metric: str, users: np.ndarray | None) -> str:
    """The metric the standings are on: the study's when the comparison has a paired test of it, else the
    task's first (AUC for a study selecting on ECE)."""
    return metric if metric in compared(task, users) else COMPARED[task][0]


def under_explored(store: Store, study: StudyRow) -> set[str]:
    """Models whose figures do not say how good they can be: fewer than MIN_TRIALS completed trials, a best
    trial the clock cut (the per-trial time cap or the study's time limit: its figure says where the clock
    stopped it, and a busier machine stops it elsewhere), or the best found on the last of fewer trials than
    another model had (its search was still improving when it stopped)."""
    completed: dict[str, list] = {}
    for row in store.results(study.id):
        if row.state == TrialState.COMPLETE:
            completed.setdefault(row.model, []).append(row)
    most = max((len(rows) for rows in completed.values()), default=0)
    best = {row.model: row for row in best_trials(store, study)}

    def cut(row) -> bool:
        notes = loads(row.extra_json).get("notes", {})
        return TIME_CAP_NOTE in notes or TIME_LIMIT_NOTE in notes

    return {model for model, rows in completed.items()
            if len(rows) < MIN_TRIALS or (model in best and cut(best[model]))
            or (len(rows) < most and best.get(model) is not None
                and best[model].trial_number == max(r.trial_number for r in rows))}


def refresh(store: Store, study: StudyRow, data: EncodedData) -> Comparison | None:
    """Compare the models whose best trial kept its outputs (two at least) and store the result."""
    if data.spec.task not in COMPARED:
        return None
    labels, users = (split["test"] for split in targets(data))
    best = {row.model: row.trial_number for row in store.best_outputs(study.id)}
    runs = {row.model: [ensembles.decode_outputs(row.outputs)["test"]] for row in store.best_outputs(study.id)}
    for rerun in store.seed_runs(study.id):
        if rerun.state == "done" and rerun.outputs and best.get(rerun.model) == rerun.trial_number:
            runs[rerun.model].append(ensembles.decode_outputs(rerun.outputs)["test"])
    runs = {m: r for m, r in runs.items() if all(len(x) == len(labels) and np.isfinite(x).all() for x in r)}
    leader = next((row.model for row in best_trials(store, study) if row.model in runs), None)
    if leader is None or len(runs) < 2:
        return None
    task, metric = data.spec.task, compared_metric(data.spec.task, study.metric, users)
    comparison = compare(task, metric, labels, runs, {m: best[m] for m in runs}, leader, under_explored(store, study),
                         users=users)
    ensemble = ensembles.stored(store, study.id)
    if ensemble is not None and set(ensemble.weights) <= set(runs):
        blend = sum(w * to_blend_scale(task, runs[m][0]) for m, w in ensemble.weights.items())
        comparison.ensemble = paired(task, metric, labels, from_blend_scale(task, blend), runs[leader][0], users)
    store.save_verdict(study.id, json.dumps(comparison.to_dict()))
    return comparison


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
