"""GBDT (LightGBM): fitted in stages, cut back to its best stage, stored as LightGBM's text model
(never pickled) and reloaded to predict exactly the same."""

from __future__ import annotations

import numpy as np
from synth import planted_ctr_data, planted_rating_data

from automl.training.fit import train_and_evaluate
from models import REGISTRY
from models.gbdt import TREES_PER_STAGE, GradientBoosting


def _fit(data, **params):
    card = REGISTRY["gbdt"]
    return train_and_evaluate(card, {**card.defaults, **params}, data, metric="auc" if data.spec.task == "ctr" else "rmse",
                              max_epochs=4, patience=1)


def test_the_stored_text_model_reloads_and_predicts_the_same():
    data = planted_ctr_data()
    outcome = _fit(data)
    model = outcome.model
    state = model.state()
    assert state.startswith(b"tree") and b"\x80" not in state[:2]                      # text, not a pickle
    assert model.booster.num_trees() == outcome.best_epoch * TREES_PER_STAGE
    again = GradientBoosting(data.spec, REGISTRY["gbdt"].defaults).load_state(state)
    x = GradientBoosting.features({k: v.numpy() for k, v in data.splits["test"].items()})
    assert np.array_equal(again.predict(x), model.predict(x))
    assert outcome.test["auc"] > 0.6


def test_rating_trees_predict_ratings_on_the_label_scale():
    data = planted_rating_data()
    outcome = _fit(data)
    x = GradientBoosting.features({k: v.numpy() for k, v in data.splits["test"].items()})
    predicted = outcome.model.predict(x)
    assert 1.0 <= np.median(predicted) <= 5.0 and outcome.test["rmse"] < 1.2
