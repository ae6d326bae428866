"""Gradient-boosted trees (LightGBM) on the same encoded features: the non-deep baseline a
practitioner tries first, with native categorical splits. Its fitted model is kept in LightGBM's
own text format (``state`` / ``load_state``), never pickled."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np

from models.card import ModelCard, ModelKind, ScopedTrial
from models.spec import DataSpec

MAX_NATIVE_CATEGORIES = 10_000   # fields up to this many values split as categories; larger ones by frequency rank
TREES_PER_STAGE = 25


class GradientBoosting:
    """Fits in stages of ``TREES_PER_STAGE`` trees so the trainer can validate and prune between
    stages like epochs. Fields with at most MAX_NATIVE_CATEGORIES values use LightGBM's categorical
    splits; larger ones enter as their frequency rank (index order). Sequence columns are not used."""

    def __init__(self, spec: DataSpec, params: dict):
        self.task = spec.task
        self.categorical = [j for j, f in enumerate(spec.fields) if f.cardinality <= MAX_NATIVE_CATEGORIES]
        self.params = {
            "objective": "binary" if spec.task == "ctr" else "regression",
            "learning_rate": params["learning_rate"], "num_leaves": params["num_leaves"],
            "min_data_in_leaf": params["min_data_in_leaf"], "lambda_l2": params["lambda_l2"],
            "seed": 0, "deterministic": True, "verbosity": -1,
        }
        self.booster: lgb.Booster | None = None
        self._train: lgb.Dataset | None = None

    @staticmethod
    def features(arrays: dict[str, np.ndarray]) -> np.ndarray:
        """[n, F + D] float32: field ids then numeric columns."""
        return np.concatenate([arrays["cat"].astype(np.float32), arrays["num"]], axis=1)

    def fit_stage(self, x: np.ndarray, y: np.ndarray, threads: int = 0) -> None:
        """Add TREES_PER_STAGE trees on ``threads`` threads (0: LightGBM's default)."""
        if self._train is None:
            self._train = lgb.Dataset(x, y, categorical_feature=self.categorical, free_raw_data=False,
                                      params={"verbosity": -1})
        self.booster = lgb.train({**self.params, "num_threads": threads}, self._train,
                                 num_boost_round=TREES_PER_STAGE, init_model=self.booster, keep_training_booster=True)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Logits (ctr) or ratings (rating), [n] float64."""
        return np.asarray(self.booster.predict(x, raw_score=True), dtype=np.float64)

    def keep_stages(self, n_stages: int) -> None:
        """Drop the trees added after stage ``n_stages`` (the best validation stage)."""
        self.load_state(self.booster.model_to_string(num_iteration=n_stages * TREES_PER_STAGE).encode())
        self._train = None

    def state(self) -> bytes:
        """The fitted trees in LightGBM's text model format (UTF-8)."""
        return self.booster.model_to_string().encode()

    def load_state(self, state: bytes) -> GradientBoosting:
        self.booster = lgb.Booster(model_str=state.decode())
        return self

    def n_params(self) -> int:
        """The number of tree nodes."""
        return int(sum(2 * tree["num_leaves"] - 1 for tree in self.booster.dump_model()["tree_info"]))


def gbdt_space(t: ScopedTrial, spec: DataSpec) -> dict:
    return {
        "learning_rate": t.float("learning_rate", 0.01, 0.3, log=True),
        "num_leaves": t.int("num_leaves", 15, 255, log=True),
        "min_data_in_leaf": t.int("min_data_in_leaf", 5, 200, log=True),
        "lambda_l2": t.float("lambda_l2", 1e-6, 10.0, log=True),
    }


GBDT_CARD = ModelCard(
    "gbdt", "Gradient-boosted trees (LightGBM)", "baseline",
    search_space=gbdt_space, build=GradientBoosting,
    tasks=frozenset({"ctr", "rating"}),
    defaults={"learning_rate": 0.1, "num_leaves": 31, "min_data_in_leaf": 20, "lambda_l2": 1e-6},
    key_options=("learning_rate", "num_leaves"),
    kind=ModelKind.TREES,
)
