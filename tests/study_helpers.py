"""A study with hand-written trial rows, for tests of what is read from them (verdicts, budgets, progress)."""

from __future__ import annotations

import json

import pandas as pd

from automl.data import datasets
from automl.search.config import StudyConfig
from automl.search.study import create_study
from storage.tables import StudyRow, TrialResultRow


def study_with(store, trials: list[tuple[str, float, dict]], **config) -> StudyRow:
    """A study of the models in ``trials`` with these completed trials (model, validation AUC, notes), in order;
    ``config``: StudyConfig fields beyond the models and the trial count."""
    frame = pd.DataFrame({"user_id": [f"u{i % 5}" for i in range(40)], "item_id": [f"i{i % 7}" for i in range(40)],
                          "click": [i % 2 for i in range(40)]})
    dataset = datasets.save(store, datasets.inspect(frame.to_csv(index=False).encode(), "clicks.csv"))
    models = list(dict.fromkeys(model for model, _, _ in trials))
    study = create_study(store, dataset, StudyConfig(**{"models": models, "n_trials": len(trials), "workers": 0, **config}))
    for number, (model, auc, notes) in enumerate(trials):
        store.save_result(TrialResultRow(study_id=study.id, trial_number=number, model=model, state="COMPLETE",
                                         params_json="{}", val_json=json.dumps({"auc": auc}), test_json="{}",
                                         extra_json=json.dumps({"notes": notes}), train_seconds=1.0))
    return study
