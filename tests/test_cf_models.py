"""Collaborative-filtering models: AutoRec's masked loss, NeuMF's pretraining, the two-tower
log-Q correction, and each model learning on small generated logs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from synth import planted_rating_data
from synth_cf import planted_implicit_data

from automl.training.fit import train_and_evaluate
from models import REGISTRY
from models.autorec import AutoRec
from models.ncf import build_gmf, build_mlp

CF_IMPLICIT = ["mf", "gmf", "mlp", "neumf", "two_tower", "pop"]
FAST = {"lr": 0.01, "batch_size": 256}


@pytest.fixture(scope="module")
def random_hr() -> float:
    return train_and_evaluate(REGISTRY["random"], {}, planted_implicit_data(), metric="ndcg@10").test["hr@10"]


@pytest.mark.parametrize("name", CF_IMPLICIT)
def test_trains_two_epochs_on_an_implicit_log_and_beats_random(name, random_hr):
    card = REGISTRY[name]
    params = {**card.defaults, **(FAST if card.kind == "torch" else {})}
    outcome = train_and_evaluate(card, params, planted_implicit_data(), metric="ndcg@10", max_epochs=2, patience=5)
    assert outcome.epochs == (1 if card.kind == "baseline" else 2)
    assert set(outcome.test) >= {"hr@10", "ndcg@10", "recall@10", "mrr"}
    assert outcome.test["hr@10"] > random_hr + 0.1, (outcome.test, random_hr)


def test_sampled_candidates_come_with_the_full_corpus_ranks_beside_them(monkeypatch):
    """A deterministic model (popularity) ranked among 20 sampled items also ranks against every item: the
    same ranks as a study of the same log with full-corpus candidates, harder than the sampled ones; past
    FULL_CORPUS_PAIRS only evenly spaced users are ranked so."""
    from automl.training import implicit

    pop = REGISTRY["pop"]
    sampled = train_and_evaluate(pop, {}, planted_implicit_data(20), metric="ndcg@10")
    full = train_and_evaluate(pop, {}, planted_implicit_data(0), metric="ndcg@10")
    assert "test_full" not in full.outputs and "full ndcg@10" not in full.test
    np.testing.assert_array_equal(sampled.outputs["test_full"], full.outputs["test"])
    assert sampled.test["full ndcg@10"] == pytest.approx(full.test["ndcg@10"])
    assert sampled.test["full hr@10"] < sampled.test["hr@10"] and (sampled.outputs["test_full"] >= sampled.outputs["test"]).all()
    n_items = planted_implicit_data(20).spec.fields[planted_implicit_data(20).spec.item_field].cardinality
    monkeypatch.setattr(implicit, "FULL_CORPUS_PAIRS", 50 * (n_items - 1))
    rows = implicit.full_corpus_rows(len(full.outputs["test"]), n_items)
    assert len(rows) == 50 and rows[0] == 0 and rows[-1] == len(full.outputs["test"]) - 1
    capped = train_and_evaluate(pop, {}, planted_implicit_data(20), metric="ndcg@10")
    np.testing.assert_array_equal(capped.outputs["test_full"], full.outputs["test"][rows])


def test_mf_on_ratings_beats_the_global_mean():
    data = planted_rating_data()
    outcome = train_and_evaluate(REGISTRY["mf"], {**REGISTRY["mf"].defaults, "lr": 0.01}, data, metric="rmse",
                                 max_epochs=8, patience=8)
    y, mean = data.splits["test"]["label"].numpy(), data.splits["train"]["label"].numpy().mean()
    assert outcome.test["rmse"] < 0.95 * np.sqrt(((y - mean) ** 2).mean())


# --- AutoRec ---------------------------------------------------------------------------------------------


def autorec(item_based: bool = True, f: str = "identity") -> tuple[AutoRec, dict]:
    data = planted_rating_data()
    params = {**REGISTRY["autorec"].defaults, "item_based": item_based, "hidden_units": 16, "f": f}
    torch.manual_seed(0)
    model = AutoRec(data.spec, params)
    model.training_data(data.splits["train"])
    return model, data.splits["train"]


@pytest.mark.parametrize("item_based", [True, False])
def test_autorec_loss_counts_observed_entries_only(item_based):
    model, train = autorec(item_based)
    rows = torch.arange(1, 9)
    loss = model.training_loss({"row": rows}, torch.nn.MSELoss()).item()
    # the same loss from the dense matrix: reconstruct every entry, compare where observed
    dense = torch.zeros(len(model.row_ptr) - 1, model.encoder.in_features)
    observed = torch.zeros_like(dense, dtype=torch.bool)
    for r, c, y in zip(train["cat"][:, model.row_field].tolist(), train["cat"][:, model.col_field].tolist(),
                       train["label"].tolist(), strict=True):        # in row order: a repeated pair keeps its last
        dense[r, c], observed[r, c] = y, True
    with torch.no_grad():
        h = model.decoder(model.g(model.encoder(dense[rows])))
    n_ratings = observed.sum()
    reg = model.lam / (2 * n_ratings) * (model.encoder.weight.pow(2).sum() + model.decoder.weight.pow(2).sum())
    mask = observed[rows]
    masked = ((dense[rows] - h)[mask].pow(2).mean() + reg).item()
    assert loss == pytest.approx(masked, rel=1e-5)
    targets = dense[rows].clone()
    targets[~mask] = torch.randn(int((~mask).sum())) * 10          # any target in an unobserved entry
    assert ((targets - h)[mask].pow(2).mean() + reg).item() == pytest.approx(loss, rel=1e-5)
    assert ((targets - h).pow(2).mean() + reg).item() != pytest.approx(loss, rel=1e-2)


def test_autorec_falls_back_to_the_mean_for_unseen_users_and_items_and_counts_it():
    model, train = autorec()
    batch = {k: v[:6].clone() for k, v in train.items()}
    batch["cat"][0, model.col_field] = 0                              # an unseen user (I-AutoRec column)
    batch["cat"][1, model.row_field] = 0                              # an unseen item
    model.eval()
    out = model(batch)
    assert out[:2].tolist() == pytest.approx([train["label"].mean().item()] * 2)
    assert model.notes(batch) == {"fallbacks": 2}


def test_autorec_bounded_output_spans_the_rating_range():
    model, train = autorec(f="sigmoid")
    model.eval()
    out = model(train)
    assert out.min() >= train["label"].min() and out.max() <= train["label"].max()


def test_autorec_trains_and_records_its_fallbacks():
    card = REGISTRY["autorec"]
    outcome = train_and_evaluate(card, {**card.defaults, "hidden_units": 64, "lr": 0.01}, planted_rating_data(),
                                 metric="rmse", max_epochs=3, patience=3)
    assert outcome.notes == {"fallbacks": 0} and outcome.test["rmse"] < 1.0


# --- NeuMF pretraining -------------------------------------------------------------------------------------


def test_neumf_with_pretraining_starts_from_the_gmf_and_mlp_weights():
    data = planted_implicit_data()
    params = {**REGISTRY["neumf"].defaults, "embed_dim": 4}
    gmf, mlp = build_gmf(data.spec, params), build_mlp(data.spec, params)
    for model in (gmf, mlp):                                           # weights unlike a fresh model's
        for p in model.parameters():
            torch.nn.init.normal_(p)
    states = {"gmf": gmf.state_dict(), "mlp": mlp.state_dict()}
    neumf = REGISTRY["neumf"].build(data.spec, params).load_pretrained(states)
    assert torch.equal(neumf.parts["gmf"].embedding.table.weight, gmf.parts["gmf"].embedding.table.weight)
    assert torch.equal(neumf.parts["mlp"].tower.layers[0].weight, mlp.parts["mlp"].tower.layers[0].weight)
    batch = {k: v[:50] for k, v in data.splits["train"].items()}
    for model in (gmf, mlp, neumf):
        model.eval()
    expected = 0.5 * gmf(batch) + 0.5 * mlp(batch)                     # alpha = 0.5
    torch.testing.assert_close(neumf(batch), expected)


def test_neumf_pretraining_runs_inside_the_trial():
    card = REGISTRY["neumf"]
    outcome = train_and_evaluate(card, {**card.defaults, **FAST, "pretrain": True}, planted_implicit_data(),
                                 metric="ndcg@10", max_epochs=1, patience=1)
    assert set(outcome.notes) == {"pretrained gmf val ndcg@10", "pretrained mlp val ndcg@10"}


# --- two-tower ---------------------------------------------------------------------------------------------


def test_log_q_correction_subtracts_the_log_of_each_items_estimated_sampling_probability():
    data = planted_implicit_data()
    card = REGISTRY["two_tower"]
    model = card.build(data.spec, {**card.defaults, "scoring": "dot"})
    model.eval()
    stream = data.splits["train"]["cat"][:, data.spec.item_field]
    model.frequency.update(stream)
    batch = {k: v[:64] for k, v in data.splits["train"].items()}
    items = batch["cat"][:, data.spec.item_field]
    counts = torch.bincount(stream, minlength=data.spec.fields[data.spec.item_field].cardinality)
    q = counts[items].double() / len(stream)
    with torch.no_grad():
        u = model.user_vectors(batch)
        v = model.item_vectors(batch["cat"][:, model.item_embedding.columns])
        expected = (u @ v.T).double() - torch.log(q).unsqueeze(0)
        corrected = model.corrected_logits(batch).double()
    same = (items.unsqueeze(0) == items.unsqueeze(1)) & ~torch.eye(64, dtype=torch.bool)
    assert torch.isinf(corrected[same]).all()
    torch.testing.assert_close(corrected[~same], expected[~same], rtol=1e-4, atol=1e-4)


def test_in_batch_softmax_asks_for_no_sampled_negatives():
    card = REGISTRY["two_tower"]
    data = planted_implicit_data()
    assert card.build(data.spec, {**card.defaults, "loss": "softmax"}).in_batch_negatives
    assert not card.build(data.spec, {**card.defaults, "loss": "pointwise"}).in_batch_negatives
