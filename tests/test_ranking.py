"""The implicit top-K protocol: ranking metrics, leave-one-out, candidates and negatives."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from synth_cf import implicit_data, implicit_log_frame, planted_implicit_data

from automl.data.infer_schema import infer_schema
from automl.evaluation.ranking import compared_metrics, gains, pessimistic_ranks, ranking_metrics
from automl.features.negatives import ItemTable, NegativeSampler
from automl.features.splits import TEST, TRAIN, VAL
from automl.features.topk_split import leave_one_out, positive_rows, sample_candidates
from automl.training import candidates as candidate_scoring
from automl.training.candidates import scored_chunks
from automl.training.fit import train_and_evaluate
from automl.training.implicit import ImplicitFeed
from automl.training.loop import FitSettings, TrainingDiverged
from automl.training.predict import predict
from models import REGISTRY


def pairs(batch, spec) -> set[tuple[int, int]]:
    cat = batch["cat"].numpy()
    return set(zip(cat[:, spec.user_field].tolist(), cat[:, spec.item_field].tolist(), strict=True))


# --- metrics ----------------------------------------------------------------------------------------------


def test_ranks_count_ties_against_the_held_out_item():
    scores = np.array([[0.5, 0.9, 0.5, 0.1],     # one higher, one tied: rank 3
                       [0.7, 0.1, 0.2, 0.3],     # best: rank 1
                       [0.4, 0.4, 0.4, 0.4]])    # everything tied: last, rank 4
    ranks = pessimistic_ranks(scores)
    assert ranks.tolist() == [3, 1, 4]
    assert gains(ranks, "hr@1").tolist() == [0, 1, 0]
    assert gains(ranks, "recall@3").mean() == pytest.approx(2 / 3)
    assert gains(ranks, "ndcg@3") == pytest.approx([1 / math.log2(4), 1, 0])
    assert gains(ranks, "ndcg@2").mean() == pytest.approx(1 / 3)
    assert gains(ranks, "mrr") == pytest.approx([1 / 3, 1, 1 / 4])
    assert ranking_metrics(ranks, (3,))["ndcg@3"] == pytest.approx((1 / math.log2(4) + 1) / 3)


def test_models_are_compared_on_the_study_metric_first_then_its_k_and_mrr():
    assert compared_metrics("ndcg@10") == ("ndcg@10", "hr@10", "mrr")
    assert compared_metrics("recall@20") == ("hr@20", "ndcg@20", "mrr")
    assert compared_metrics("mrr") == ("mrr", "ndcg@10", "hr@10")


def test_k_larger_than_the_list_counts_every_item_as_retrieved():
    ranks = pessimistic_ranks(np.array([[0.1, 0.2, 0.3]]))
    assert ranks.tolist() == [3]
    metrics = ranking_metrics(ranks, (10,))
    assert metrics == pytest.approx({"hr@10": 1.0, "ndcg@10": 0.5, "recall@10": 1.0, "mrr": 1 / 3})


def test_invalid_candidates_do_not_count():
    scores = np.array([[0.5, 0.9, 0.7, 0.1]])
    assert pessimistic_ranks(scores, np.array([[False, True, True]])).tolist() == [2]
    assert pessimistic_ranks(scores, np.array([[False, False, True]])).tolist() == [1]


# --- split, candidates, negatives -------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 5)), min_size=1, max_size=60), st.booleans())
def test_leave_one_out_holds_out_each_users_latest_rows(rows, timed):
    users = np.array([u for u, _ in rows])
    times = np.array([t for _, t in rows]) if timed else None
    users = np.r_[users, 9, 9, 9]                       # one user is always eligible
    times = None if times is None else np.r_[times, 0, 1, 2]
    assignment, method = leave_one_out(users, times, seed=1)
    assert ("timestamp" in method) == timed
    for user in np.unique(users):
        mine = assignment[users == user]
        if len(mine) < 3:
            assert (mine == TRAIN).all()
            continue
        assert (mine == TEST).sum() == 1 and (mine == VAL).sum() == 1
        if timed:
            t = times[users == user]
            assert t[mine == TEST][0] == t.max() and t[mine == VAL][0] >= t[mine == TRAIN].max()
            assert t[mine == VAL][0] <= t[mine == TEST][0]


def test_no_held_out_item_is_a_training_positive_of_its_user():
    frame = implicit_log_frame(seed=3)
    frame = pd.concat([frame, frame.iloc[:300]])        # repeated interactions, as in real logs
    data = implicit_data(frame)
    spec = data.spec
    train = pairs(data.splits["train"], spec)
    for split in ("val", "test"):
        held = pairs(data.splits[split], spec)
        assert held and not held & train
    assert len(pairs(data.splits["val"], spec) | pairs(data.splits["test"], spec)) == 2 * len(data.splits["test"]["label"])


def test_positive_rows_of_a_ctr_table_are_its_clicks_once_per_pair():
    frame = pd.DataFrame({"user_id": ["a", "a", "a", "b", "b"], "item_id": ["x", "x", "y", "x", "z"],
                          "click": [1, 1, 0, 1, 0], "timestamp": [1_735_689_600 + i for i in (5, 1, 2, 3, 4)]})
    rows = positive_rows(frame, infer_schema(frame))
    assert rows[["user_id", "item_id", "timestamp"]].values.tolist() == [["a", "x", 1_735_689_605],
                                                                        ["b", "x", 1_735_689_603]]


def test_sampled_candidates_are_distinct_items_the_user_never_touched():
    data = planted_implicit_data()
    spec = data.spec
    touched = set().union(*(pairs(b, spec) for b in data.splits.values()))
    for split in ("val", "test"):
        users = data.splits[split]["cat"][:, spec.user_field].tolist()
        cand = data.splits[split]["cand"].numpy()
        assert cand.shape == (len(users), 99) and (cand > 0).all()
        assert all(len(set(row)) == 99 for row in cand.tolist())
        assert not any((u, i) in touched for u, row in zip(users, cand.tolist(), strict=True) for i in row)


def test_a_user_with_few_untouched_items_gets_them_all_then_padding():
    touched = np.array([1 * 10 + i for i in range(1, 8)])          # user 1 touched items 1..7 of 1..9
    out = sample_candidates(np.array([1, 2]), touched, n_items=10, n=5, rng=np.random.default_rng(0))
    assert sorted(out[0].tolist()) == [0, 0, 0, 8, 9]
    assert len(set(out[1].tolist())) == 5 and (out[1] > 0).all()


def test_training_negatives_avoid_the_users_positives_and_copy_the_user_side():
    data = planted_implicit_data()
    spec, train = data.spec, data.splits["train"]
    positives = pairs(train, spec)
    table = ItemTable(spec, train["cat"])
    sampler = NegativeSampler(spec, train, table, seed=0)
    rows = sampler.epoch_rows(4)
    n = len(train["label"])
    assert len(rows["label"]) == 5 * n and rows["label"][:n].eq(1).all() and rows["label"][n:].eq(0).all()
    negatives = {k: v[n:] for k, v in rows.items()}
    assert not pairs(negatives, spec) & positives
    genre, group = [f.name for f in spec.fields].index("genre"), [f.name for f in spec.fields].index("group")
    source = train["cat"].repeat_interleave(4, dim=0)
    cat = negatives["cat"]
    assert torch.equal(cat[:, spec.user_field], source[:, spec.user_field])
    assert torch.equal(cat[:, group], source[:, group])                       # user-side: copied
    assert torch.equal(negatives["hist0"], train["hist0"].repeat_interleave(4, dim=0))
    item_genre = dict(zip(train["cat"][:, spec.item_field].tolist(), train["cat"][:, genre].tolist(), strict=True))
    assert [item_genre[i] for i in cat[:, spec.item_field].tolist()] == cat[:, genre].tolist()   # item-side: looked up


# --- evaluation -------------------------------------------------------------------------------------------


def candidate_scores(model, rows, table, candidates) -> np.ndarray:
    """float64 [U, C]: every chunk's scores, stacked."""
    return np.concatenate([scores for _, scores in scored_chunks(model, rows, table, candidates)])


def test_two_tower_scores_candidates_like_the_rows_built_for_them():
    data = planted_implicit_data()
    card = REGISTRY["two_tower"]
    model = card.build(data.spec, card.defaults)
    feed = ImplicitFeed(model, card.defaults, data)
    rows, cand = feed.rows_of["val"], feed.candidates["val"]
    fast = candidate_scores(model, rows, feed.table, cand)
    expanded = feed.table.rows_for(rows, cand)
    model.eval()
    with torch.no_grad():
        slow = model(expanded).reshape(fast.shape).double().numpy()
    np.testing.assert_allclose(fast, slow, rtol=1e-5, atol=1e-6)


def test_full_corpus_ranking_leaves_out_the_users_known_items():
    data = planted_implicit_data(n_candidates=0)
    assert "cand" not in data.splits["test"]
    pop = REGISTRY["pop"]
    outcome = train_and_evaluate(pop, {}, data, metric="ndcg@10")
    sampled = train_and_evaluate(pop, {}, planted_implicit_data(), metric="ndcg@10")
    assert 0 < outcome.test["hr@10"] < sampled.test["hr@10"]        # 159 rivals are harder than 99
    feed = ImplicitFeed(pop.build(data.spec, {}), {}, data)
    spec = data.spec
    valid = feed.valid("test", 0, 20)
    users = data.splits["test"]["cat"][:, spec.user_field].numpy()
    known = set().union(*(pairs(b, spec) for b in data.splits.values()))
    for row, user in enumerate(users[:20]):
        excluded = {i + 1 for i in np.flatnonzero(~valid[row])}
        assert excluded == {i for u, i in known if u == user}


def test_a_study_metric_with_another_cutoff_is_reported_beside_k_10():
    outcome = train_and_evaluate(REGISTRY["pop"], {}, planted_implicit_data(), metric="hr@5")
    assert {"hr@5", "ndcg@5", "hr@10", "ndcg@10", "mrr"} <= set(outcome.val)
    assert outcome.val["hr@5"] <= outcome.val["hr@10"]


@pytest.mark.parametrize("n_candidates", [99, 0])
def test_ranks_scored_in_chunks_equal_ranks_of_the_whole_score_matrix(n_candidates, monkeypatch):
    data = planted_implicit_data(n_candidates=n_candidates)
    card = REGISTRY["mf"]
    model = card.build(data.spec, card.defaults)
    feed = ImplicitFeed(model, card.defaults, data)
    rows, cand = feed.rows_of["test"], feed.candidates["test"]
    whole = np.c_[predict(model, rows), candidate_scores(model, rows, feed.table, cand)]
    expected = pessimistic_ranks(whole, feed.valid("test", 0, len(whole)))
    monkeypatch.setattr(candidate_scoring, "EXPANDED_ROWS", 7 * whole.shape[1])          # chunks of 7 users
    assert np.array_equal(feed.outputs("test"), expected)


def test_a_user_row_with_a_non_finite_score_gets_no_rank_and_the_trial_diverges():
    data = planted_implicit_data()
    card = REGISTRY["mf"]
    model = card.build(data.spec, card.defaults)
    with torch.no_grad():
        model.factors.table.weight[:] = float("nan")
    feed = ImplicitFeed(model, card.defaults, data)
    assert np.isnan(feed.outputs("val")).all()
    with pytest.raises(TrainingDiverged):
        feed.loop(FitSettings("ndcg@10")).after_epoch(1, 0.5, feed.outputs("val"), 0.0)
