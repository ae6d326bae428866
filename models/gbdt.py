"""Gradient-boosted trees (scikit-learn HistGradientBoosting) on the same encoded features:
the non-deep baseline a practitioner tries first."""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from models.card import ModelCard, ModelKind, ScopedTrial
from models.spec import DataSpec

MAX_NATIVE_CATEGORIES = 255
TREES_PER_STAGE = 25


class GradientBoosting:
    """Fits in stages of ``TREES_PER_STAGE`` trees so the trainer can validate and prune
    between stages like epochs. Fields with at most 255 values use native categorical splits;
    larger ones enter as their frequency rank (index order). Sequence columns are not used."""

    def __init__(self, spec: DataSpec, params: dict):
        self.task = spec.task
        native = [f.cardinality <= MAX_NATIVE_CATEGORIES for f in spec.fields]
        mask = np.array(native + [False] * len(spec.numeric), dtype=bool)
        estimator = HistGradientBoostingClassifier if spec.task == "ctr" else HistGradientBoostingRegressor
        self.estimator = estimator(
            learning_rate=params["learning_rate"],
            max_leaf_nodes=params["max_leaf_nodes"],
            min_samples_leaf=params["min_samples_leaf"],
            l2_regularization=params["l2_regularization"],
            max_iter=0,
            warm_start=True,
            early_stopping=False,
            categorical_features=mask if mask.any() else None,
            random_state=0,
        )

    @staticmethod
    def features(arrays: dict[str, np.ndarray]) -> np.ndarray:
        """[n, F + D] float32: field ids then numeric columns."""
        return np.concatenate([arrays["cat"].astype(np.float32), arrays["num"]], axis=1)

    def fit_stage(self, x: np.ndarray, y: np.ndarray) -> None:
        self.estimator.max_iter += TREES_PER_STAGE
        self.estimator.fit(x, y if self.task == "rating" else y.astype(np.int64))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Logits (ctr) or ratings (rating), [n] float."""
        if self.task == "ctr":
            return self.estimator.decision_function(x).astype(np.float64)
        return self.estimator.predict(x).astype(np.float64)

    def keep_stages(self, n_stages: int) -> None:
        """Drop the trees added after stage ``n_stages`` (the best validation stage)."""
        del self.estimator._predictors[n_stages * TREES_PER_STAGE:]
        self.estimator.max_iter = len(self.estimator._predictors)

    def n_params(self) -> int:
        """The number of tree nodes."""
        return int(sum(p.nodes.shape[0] for stage in self.estimator._predictors for p in stage))


def gbdt_space(t: ScopedTrial, spec: DataSpec) -> dict:
    return {
        "learning_rate": t.float("learning_rate", 0.01, 0.3, log=True),
        "max_leaf_nodes": t.int("max_leaf_nodes", 15, 255, log=True),
        "min_samples_leaf": t.int("min_samples_leaf", 5, 200, log=True),
        "l2_regularization": t.float("l2_regularization", 1e-6, 10.0, log=True),
    }


GBDT_CARD = ModelCard(
    "gbdt", "Gradient-boosted trees (scikit-learn HistGradientBoosting)", "baseline",
    search_space=gbdt_space, build=GradientBoosting,
    tasks=frozenset({"ctr", "rating"}),
    defaults={"learning_rate": 0.1, "max_leaf_nodes": 31, "min_samples_leaf": 20, "l2_regularization": 1e-6},
    key_options=("learning_rate", "max_leaf_nodes"),
    kind=ModelKind.SKLEARN,
)
