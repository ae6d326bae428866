"""Interleaved comparison of two rankers: probabilistic and team-draft interleaving, click credit, compare."""

from __future__ import annotations

import numpy as np
import pytest

from automl.online.interleave import (
    METHODS,
    compare,
    credit,
    probabilistic_interleave,
    team_draft_interleave,
)


def interleave(method: str, a, b, rng, length=None):
    fn = probabilistic_interleave if method == "probabilistic" else team_draft_interleave
    return fn(np.asarray(a), np.asarray(b), rng, length=length)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("length", [None, 0, 1, 3, 5, 50])
def test_output_is_a_truncated_permutation(method, length):
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 9))
        a, b = rng.permutation(n), rng.permutation(n)
        ids, sides = interleave(method, a, b, rng, length)
        m = n if length is None else min(length, n)
        assert ids.shape == sides.shape == (m,)
        assert len(set(ids.tolist())) == m                      # placed once, even when both lists hold it
        assert set(ids.tolist()) <= set(range(n))
        assert set(sides.tolist()) <= {0, 1}


@pytest.mark.parametrize("method", METHODS)
def test_identical_lists_place_every_item_once(method):
    rng = np.random.default_rng(1)
    a = np.array([3, 1, 4, 0, 2])
    for _ in range(100):
        ids, _ = interleave(method, a, a, rng)
        assert sorted(ids.tolist()) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("method", METHODS)
def test_same_seed_same_result(method):
    a, b = np.array([0, 1, 2, 3, 4]), np.array([4, 2, 0, 3, 1])
    first = interleave(method, a, b, np.random.default_rng(7))
    second = interleave(method, a, b, np.random.default_rng(7))
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


@pytest.mark.parametrize(("a", "b"), [
    ([0, 1, 2], [0, 1]),                 # lengths differ
    ([0, 1, 1], [0, 1, 2]),              # a duplicate
    ([0, 1, 3], [0, 1, 2]),              # not ids 0..n-1
    ([[0, 1]], [[0, 1]]),                # not 1-D
])
@pytest.mark.parametrize("method", METHODS)
def test_rankings_must_be_permutations(method, a, b):
    with pytest.raises(ValueError, match="ranking"):
        interleave(method, a, b, np.random.default_rng(0))


def test_team_draft_known_case():
    """a = [0,1,2,3], b = [1,0,3,2]: the coin picks the first team, that team its best item, the other team
    its best remaining one; at 1-1 a new coin, and so on. Exactly four outcomes are possible."""
    a, b = np.array([0, 1, 2, 3]), np.array([1, 0, 3, 2])
    possible = {
        ((0, 1, 2, 3), (0, 1, 0, 1)),    # a first; a first again at 1-1
        ((0, 1, 3, 2), (0, 1, 1, 0)),    # a first; b first at 1-1
        ((1, 0, 2, 3), (1, 0, 0, 1)),    # b first; a first at 1-1
        ((1, 0, 3, 2), (1, 0, 1, 0)),    # b first; b first at 1-1
    }
    seen = set()
    for seed in range(200):
        ids, sides = team_draft_interleave(a, b, np.random.default_rng(seed))
        outcome = (tuple(ids.tolist()), tuple(sides.tolist()))
        assert outcome in possible
        seen.add(outcome)
    assert seen == possible


def test_team_draft_follows_the_rules():
    """At every position the team with fewer picks picks (either one on a tie) and adds its best remaining item."""
    rng = np.random.default_rng(3)
    for _ in range(300):
        n = int(rng.integers(1, 12))
        rankings = (rng.permutation(n), rng.permutation(n))
        ids, sides = team_draft_interleave(*rankings, rng)
        picks = [0, 0]
        for pos, (item, side) in enumerate(zip(ids.tolist(), sides.tolist(), strict=True)):
            if picks[0] != picks[1]:
                assert picks[side] < picks[1 - side]
            best = next(x for x in rankings[side].tolist() if x not in ids[:pos].tolist())
            assert item == best
            picks[side] += 1
        assert abs(picks[0] - picks[1]) <= 1


def test_team_draft_first_pick_is_a_fair_coin():
    a, b = np.array([0, 1, 2]), np.array([2, 1, 0])
    rng = np.random.default_rng(4)
    first_sides = [team_draft_interleave(a, b, rng, length=1)[1][0] for _ in range(4000)]
    assert 0.45 < np.mean(first_sides) < 0.55


def test_probabilistic_follows_the_rank_distribution():
    """Identical lists of 3, tau = 3: P(first = top) = 1 / (1 + 1/8 + 1/27); given that, the second place
    goes to rank 2 with probability (1/8) / (1/8 + 1/27) (the distribution renormalised over the rest)."""
    rng = np.random.default_rng(5)
    a = np.array([2, 0, 1])
    draws = np.array([probabilistic_interleave(a, a, rng)[0] for _ in range(20000)])
    p_top = 1 / (1 + 1 / 8 + 1 / 27)
    assert abs(np.mean(draws[:, 0] == 2) - p_top) < 0.015
    after_top = draws[draws[:, 0] == 2]
    assert abs(np.mean(after_top[:, 1] == 0) - (1 / 8) / (1 / 8 + 1 / 27)) < 0.015


def test_probabilistic_mixes_both_rankers():
    """a and b disagree on the top item: each wins the first place with probability 0.5 · P_a + 0.5 · P_b."""
    rng = np.random.default_rng(6)
    a, b = np.array([0, 1]), np.array([1, 0])
    firsts = np.array([probabilistic_interleave(a, b, rng, tau=1.0, length=1)[0][0] for _ in range(8000)])
    assert abs(np.mean(firsts == 0) - 0.5) < 0.03            # 0.5 · 2/3 + 0.5 · 1/3
    ids, sides = probabilistic_interleave(a, b, rng, tau=0.0)  # tau 0: uniform, still a permutation
    assert sorted(ids.tolist()) == [0, 1] and set(sides.tolist()) <= {0, 1}
    with pytest.raises(ValueError, match="tau"):
        probabilistic_interleave(a, b, rng, tau=-1.0)


def test_credit_exact():
    interleaved = np.array([4, 0, 2, 5, 1])
    sides = np.array([0, 1, 1, 0, 0])
    clicked = np.zeros(7, dtype=bool)
    clicked[[0, 2, 4, 6]] = True                              # 6 is clicked but not shown: credits no one
    assert credit(interleaved, sides, clicked) == (1, 2)
    assert credit(interleaved, sides, np.zeros(7, dtype=bool)) == (0, 0)
    assert credit(np.array([], dtype=int), np.array([], dtype=int), clicked) == (0, 0)
    with pytest.raises(ValueError, match="shape"):
        credit(interleaved, sides[:3], clicked)


@pytest.mark.parametrize("method", METHODS)
def test_equal_rankers_split_the_credit(method):
    rng = np.random.default_rng(8)
    sizes = rng.integers(1, 15, size=4000)
    groups = np.repeat(np.arange(len(sizes)), sizes)
    scores = rng.normal(size=len(groups))
    clicked = rng.random(len(groups)) < 0.3
    credit_a, credit_b = compare(scores, scores.copy(), clicked, groups, rng, method=method, length=10)
    assert credit_a + credit_b > 3000
    assert 0.45 < credit_a / (credit_a + credit_b) < 0.55


def single_click_sets(rng: np.random.Generator, count: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Sets of 2..10 items with one click; a ranks the clicked item first, b last, the rest at random."""
    out = []
    for _ in range(count):
        n = int(rng.integers(2, 11))
        clicked_item = int(rng.integers(n))
        others = [x for x in range(n) if x != clicked_item]
        a = np.array([clicked_item, *rng.permutation(others).tolist()])
        b = np.array([*rng.permutation(others).tolist(), clicked_item])
        clicked = np.zeros(n, dtype=bool)
        clicked[clicked_item] = True
        out.append((a, b, clicked))
    return out


def test_team_draft_always_credits_the_ranker_with_the_click_on_top():
    """The click is a's top item and b's last: if a picks first it takes it; if b picks first it takes another
    item and a takes the click second. So with 2+ positions a wins every set; with one position a wins or
    ties (b first: nothing clicked is shown), never loses."""
    rng = np.random.default_rng(9)
    for a, b, clicked in single_click_sets(rng, 500):
        assert credit(*team_draft_interleave(a, b, rng, length=2), clicked) == (1, 0)
        assert credit(*team_draft_interleave(a, b, rng), clicked) == (1, 0)
        assert credit(*team_draft_interleave(a, b, rng, length=1), clicked) in {(1, 0), (0, 0)}


def test_probabilistic_favours_the_ranker_with_the_click_on_top():
    """Not guaranteed per draw (b may sample the click from its tail), but a wins a clear majority."""
    rng = np.random.default_rng(10)
    results = [credit(*probabilistic_interleave(a, b, rng, length=None), clicked)
               for a, b, clicked in single_click_sets(rng, 2000)]
    assert np.mean([r == (1, 0) for r in results]) > 0.9
    assert np.mean([r == (0, 1) for r in results]) < 0.1


def per_set_reference(scores_a, scores_b, clicked, groups, rng, method, length):
    """compare, written out set by set in ascending group order with the single-set functions."""
    total = np.zeros(2, dtype=int)
    for g in np.unique(groups):
        rows = np.flatnonzero(groups == g)
        if not clicked[rows].any():
            continue
        ranking_a = np.argsort(-scores_a[rows], kind="stable")
        ranking_b = np.argsort(-scores_b[rows], kind="stable")
        total += credit(*interleave(method, ranking_a, ranking_b, rng, length), clicked[rows])
    return tuple(total.tolist())


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("length", [None, 1, 3])
def test_compare_equals_the_sum_over_sets(method, length):
    rng = np.random.default_rng(11)
    n = 400
    groups = rng.choice([-7, 3, 5, 12, 40, 1000, 2024], size=n) * 10 + rng.integers(0, 5, size=n)
    scores_a = rng.integers(0, 4, size=n).astype(float)     # many ties: broken by row order
    scores_b = rng.normal(size=n)
    clicked = rng.random(n) < 0.1
    got = compare(scores_a, scores_b, clicked, groups, np.random.default_rng(12), method, length)
    want = per_set_reference(scores_a, scores_b, clicked, groups, np.random.default_rng(12), method, length)
    assert got == want
    assert sum(got) > 0


def test_compare_deterministic_sets():
    """Team-draft with 2 positions: whoever ranks the single click first wins that set, whatever the coins.
    Group 1: a puts the click (row 2) first, b last. Group 2: the reverse (a's scores tie: row order, so the
    click at row 5 is last for a). Group 3 holds no click, group 4 one row (the click, shown whoever picks)."""
    groups = np.array([1, 1, 1, 2, 2, 2, 3, 3, 1, 4])
    scores_a = np.array([0.5, 0.1, 0.9, 0.0, 0.0, 0.0, 1.0, 2.0, 0.3, 0.0])
    scores_b = np.array([0.5, 0.7, 0.0, 0.9, 0.2, 0.95, 2.0, 1.0, 0.6, 0.0])
    clicked = np.array([0, 0, 1, 0, 0, 1, 0, 0, 0, 1], dtype=bool)
    totals = set()
    for seed in range(50):
        credit_a, credit_b = compare(scores_a, scores_b, clicked, groups, np.random.default_rng(seed),
                                     "team_draft", length=2)
        assert credit_a + credit_b == 3                         # groups 1, 2 and the one-row group 4
        assert credit_a >= 1 and credit_b >= 1
        totals.add((credit_a, credit_b))
    assert totals == {(2, 1), (1, 2)}                           # group 4 goes to whichever side picks first


def test_compare_skips_sets_without_clicks_and_handles_edge_cases():
    rng = np.random.default_rng(13)
    groups = np.array([0, 0, 1, 1, 2])
    scores = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    no_clicks = np.zeros(5, dtype=bool)
    state = rng.bit_generator.state
    assert compare(scores, scores, no_clicks, groups, rng) == (0, 0)
    assert rng.bit_generator.state == state                     # nothing drawn for sets that cannot credit
    empty = np.array([])
    assert compare(empty, empty, empty.astype(bool), empty.astype(int), rng) == (0, 0)
    one = compare(np.array([1.0]), np.array([2.0]), np.array([True]), np.array([0]), rng, "probabilistic")
    assert one in {(1, 0), (0, 1)}
    assert compare(scores, scores, np.ones(5, dtype=bool), groups, rng, length=0) == (0, 0)


def test_compare_rejects_bad_input():
    x = np.zeros(3)
    groups = np.array([0, 0, 1])
    clicked = np.array([True, False, True])
    with pytest.raises(ValueError, match="unknown interleaving method"):
        compare(x, x, clicked, groups, np.random.default_rng(0), method="balanced")
    with pytest.raises(ValueError, match="one length"):
        compare(x, np.zeros(2), clicked, groups, np.random.default_rng(0))
