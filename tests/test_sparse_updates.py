"""Sparse-row updates of the embedding tables: gradients and optimizer state only for the rows a batch
looked up (``automl.training.loop.make_optimizers``), the same learning where the math says so."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from synth import planted_ctr_data
from test_registry_contract import CASES, STUDY_METRIC, data_for, fast_params

from automl.evaluation.significance import paired_auc_test
from automl.training.fit import train_and_evaluate
from automl.training.loop import embedding_tables, loss_function, make_optimizers, sparse_updates, train_epoch
from models import REGISTRY
from models.common import SPARSE_ROWS


@pytest.mark.parametrize("name", ["fm", "deepfm", "wide_deep"])
def test_sparse_rows_with_plain_sgd_learn_exactly_what_dense_sgd_learns(name):
    """SGD without momentum or decay moves a row only by its gradient: untouched rows stay put either way,
    so one epoch of sparse-row updates gives the dense run's weights (same seed, same batches), up to float32
    rounding: the two backward passes sum a batch's repeated ids in different orders, and a step's last-bit
    differences feed the next steps (a wrong update would differ by about lr × gradient, 1e-3 and more)."""
    data, card = planted_ctr_data(3000), REGISTRY[name]
    params = {**card.defaults, "optimizer": "sgd", "wide_optimizer": "sgd", "lr": 0.05, "wide_lr": 0.05,
              "weight_decay": 0.0, "dropout": 0.0, "batch_size": 256}
    torch.manual_seed(0)
    dense_model = card.build(data.spec, params)
    sparse_model = copy.deepcopy(dense_model)
    weights = {}
    for updates, model in (("dense", dense_model), ("sparse", sparse_model)):
        chosen = {**params, "embedding_updates": updates}
        optimizers = make_optimizers(model, chosen)
        assert all(t.sparse == (updates == "sparse") for t in embedding_tables(model))
        torch.manual_seed(1)
        train_epoch(model, optimizers, loss_function("ctr"), data.splits["train"], 256)
        weights[updates] = model.state_dict()
    moved = 0
    for key, value in weights["dense"].items():
        torch.testing.assert_close(weights["sparse"][key], value, rtol=1e-4, atol=2e-5)
        moved += int(not torch.equal(value, card.build(data.spec, params).state_dict()[key]))
    assert moved > 0


def test_auto_is_sparse_past_the_row_limit_and_a_searched_choice_wins():
    data = planted_ctr_data(500)
    model = REGISTRY["fm"].build(data.spec, REGISTRY["fm"].defaults)
    rows = sum(t.num_embeddings for t in embedding_tables(model))
    assert rows < SPARSE_ROWS and not sparse_updates(model, {"embedding_updates": "auto"})
    assert sparse_updates(model, {"embedding_updates": "sparse"}) and not sparse_updates(model, {})
    model.large = torch.nn.Embedding(SPARSE_ROWS, 2)          # one more table past the limit
    assert sparse_updates(model, {}) and sparse_updates(model, {"embedding_updates": "auto"})
    assert not sparse_updates(model, {"embedding_updates": "dense"})
    kinds = {type(o).__name__ for o in make_optimizers(model, {"optimizer": "adam", "embedding_updates": "auto"})}
    assert kinds == {"Adam", "SparseAdam"}


def test_sparse_adam_reaches_dense_adams_auc_within_the_test_rows_noise():
    """Lazy Adam (moments of the rows looked up only) against Adam on every row: DeepFM, same seed and
    epochs; the AUC gap within the paired DeLong interval of the test rows (and both well above chance)."""
    data = planted_ctr_data(8000)
    card, outputs, aucs = REGISTRY["deepfm"], {}, {}
    for updates in ("dense", "sparse"):
        outcome = train_and_evaluate(card, {**card.defaults, "embedding_updates": updates}, data, metric="auc",
                                     max_epochs=4, patience=4)
        outputs[updates], aucs[updates] = outcome.outputs["test"], outcome.test["auc"]
    labels = data.splits["test"]["label"].numpy()
    _, p = paired_auc_test(outputs["dense"], outputs["sparse"], labels)
    assert min(aucs.values()) > 0.65, aucs
    assert abs(aucs["dense"] - aucs["sparse"]) < 0.02 and p > 0.01, (aucs, p)


TORCH_CASES = [(name, task) for name, task in CASES if REGISTRY[name].kind == "torch"
               and "embedding_updates" in REGISTRY[name].defaults]


@pytest.mark.parametrize("name,task", TORCH_CASES)
def test_every_embedding_model_trains_with_sparse_row_updates(name, task):
    card = REGISTRY[name]
    data = data_for(task, card)
    outcome = train_and_evaluate(card, {**fast_params(card), "embedding_updates": "sparse"}, data,
                                 metric=STUDY_METRIC[task], max_epochs=1, patience=1)
    assert outcome.epochs == 1 and all(np.isfinite(v) for v in outcome.test.values())
