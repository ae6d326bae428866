"""Interleaved comparison of two rankers on logged clicks, as in DRN's Dueling Bandit Gradient Descent.

A live ranker and an explore ranker each rank one candidate set; the two lists are merged by interleaving
(probabilistic or team-draft) and each logged click counts for the ranker that contributed the clicked
item. Candidates are identified by their position in the set, the integers 0..n-1.
"""

from __future__ import annotations

import numpy as np

METHODS = ("probabilistic", "team_draft")


def _check_rankings(ranking_a: np.ndarray, ranking_b: np.ndarray,
                    length: int | None) -> tuple[np.ndarray, np.ndarray, int]:
    """-> (a, b as int64 [n], the number of positions m = min(length, n))."""
    a = np.asarray(ranking_a)
    b = np.asarray(ranking_b)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"the two rankings must be 1-D and of one length, got shapes {a.shape} and {b.shape}")
    ids = np.arange(len(a))
    if not (np.array_equal(np.sort(a), ids) and np.array_equal(np.sort(b), ids)):
        raise ValueError("each ranking must be a permutation of the same candidate ids 0..n-1")
    if length is not None and length < 0:
        raise ValueError(f"length must be >= 0 or None, got {length}")
    m = len(a) if length is None else min(int(length), len(a))
    return a.astype(np.int64), b.astype(np.int64), m


def probabilistic_interleave(ranking_a: np.ndarray, ranking_b: np.ndarray, rng: np.random.Generator,
                             tau: float = 3.0, length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Probabilistic interleaving (Hofmann, Whiteson & de Rijke, CIKM 2011).

    ranking_a/ranking_b: int [n] permutations of the same candidate ids (best first). Each ranker's list
    becomes a distribution P(d) ∝ 1 / rank(d)^tau (rank from 1); for each position a fair coin picks a
    ranker, which samples one not-yet-placed item from its distribution renormalised over the remaining
    items; the item is removed from both lists. -> (interleaved ids int [m], sides int [m] with 0 = a,
    1 = b), m = min(length, n) (length None: n).
    """
    a, b, m = _check_rankings(ranking_a, ranking_b, length)
    if not (np.isfinite(tau) and tau >= 0):
        raise ValueError(f"tau must be a finite number >= 0, got {tau}")
    n = len(a)
    rank_weight = np.arange(1, n + 1, dtype=np.float64) ** -float(tau)
    weights = np.empty((2, n))                     # [side, candidate id]
    weights[0, a] = rank_weight
    weights[1, b] = rank_weight
    interleaved = np.empty(m, dtype=np.int64)
    sides = rng.integers(0, 2, size=m)
    for pos in range(m):
        cumulative = np.cumsum(weights[sides[pos]])
        item = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
        if item == n:                              # u · total rounded up to the total itself
            item = int(np.flatnonzero(weights[sides[pos]])[-1])
        interleaved[pos] = item
        weights[:, item] = 0.0
    return interleaved, sides


def team_draft_interleave(ranking_a: np.ndarray, ranking_b: np.ndarray, rng: np.random.Generator,
                          length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Team-draft interleaving (Radlinski, Kurup & Joachims, CIKM 2008).

    The team with fewer picks so far picks next (a fair coin on ties) and adds its highest-ranked item not
    yet in the list. Inputs and returns as :func:`probabilistic_interleave`.
    """
    a, b, m = _check_rankings(ranking_a, ranking_b, length)
    rankings = (a, b)
    placed = np.zeros(len(a), dtype=bool)
    cursor = [0, 0]                                # next unread position in each ranking
    picks = [0, 0]
    interleaved = np.empty(m, dtype=np.int64)
    sides = np.empty(m, dtype=np.int64)
    for pos in range(m):
        side = int(rng.integers(0, 2)) if picks[0] == picks[1] else int(picks[1] < picks[0])
        ranking = rankings[side]
        while placed[ranking[cursor[side]]]:
            cursor[side] += 1
        item = ranking[cursor[side]]
        placed[item] = True
        picks[side] += 1
        interleaved[pos], sides[pos] = item, side
    return interleaved, sides


def credit(interleaved: np.ndarray, sides: np.ndarray, clicked: np.ndarray) -> tuple[int, int]:
    """interleaved, sides: int [m] as returned by the interleavers; clicked: bool [n] over candidate ids.

    -> (clicks credited to a, clicks credited to b): each clicked item in the interleaved list counts for
    the side that contributed it.
    """
    interleaved = np.asarray(interleaved, dtype=np.int64)
    sides = np.asarray(sides)
    if interleaved.shape != sides.shape:
        raise ValueError(f"interleaved and sides differ in shape: {interleaved.shape} vs {sides.shape}")
    hit = np.asarray(clicked, dtype=bool)[interleaved]
    to_b = int(np.count_nonzero(hit & (sides == 1)))
    return int(np.count_nonzero(hit)) - to_b, to_b


def compare(scores_a: np.ndarray, scores_b: np.ndarray, clicked: np.ndarray, groups: np.ndarray,
            rng: np.random.Generator, method: str = "probabilistic", length: int | None = 10) -> tuple[int, int]:
    """Interleaved comparison over many candidate sets at once.

    scores_a, scores_b: float [n] (higher first, ties broken by row order); clicked: bool [n]; groups: int
    [n], rows with one value form one candidate set (e.g. one (user, window) impression set). Each set is
    ranked by both sides, interleaved with ``method`` (truncated to ``length`` positions) and its clicks
    credited; sets are visited in ascending group value and sets without a click are skipped (they credit
    no one and draw nothing from ``rng``). -> (total credit of a, total credit of b).
    """
    if method not in METHODS:
        raise ValueError(f"unknown interleaving method {method!r}; expected one of {METHODS}")
    scores_a = np.asarray(scores_a, dtype=np.float64)
    scores_b = np.asarray(scores_b, dtype=np.float64)
    clicked = np.asarray(clicked, dtype=bool)
    groups = np.asarray(groups)
    if not (scores_a.ndim == 1 and scores_a.shape == scores_b.shape == clicked.shape == groups.shape):
        raise ValueError("scores_a, scores_b, clicked and groups must be 1-D arrays of one length")
    if len(groups) == 0:
        return 0, 0
    order = np.argsort(groups, kind="stable")      # keeps row order within a set
    _, starts = np.unique(groups[order], return_index=True)
    has_click = np.add.reduceat(clicked[order].astype(np.int64), starts) > 0
    ends = np.append(starts[1:], len(order))
    total_a = total_b = 0
    for start, end in zip(starts[has_click], ends[has_click], strict=True):
        rows = order[start:end]
        ranking_a = np.argsort(-scores_a[rows], kind="stable")
        ranking_b = np.argsort(-scores_b[rows], kind="stable")
        if method == "probabilistic":
            interleaved, sides = probabilistic_interleave(ranking_a, ranking_b, rng, length=length)
        else:
            interleaved, sides = team_draft_interleave(ranking_a, ranking_b, rng, length=length)
        credit_a, credit_b = credit(interleaved, sides, clicked[rows])
        total_a += credit_a
        total_b += credit_b
    return total_a, total_b
