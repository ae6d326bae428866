"""DRN's user-activeness reward: sessions and returns, the survival decay, the cap, the click + beta · S reward."""

from __future__ import annotations

import math

import numpy as np
import pytest

from automl.online.reward import LAMBDA0, S0, SA, SESSION_GAP_S, activeness, reward

LAM = LAMBDA0


def test_hand_computation():
    """User 1: events at 0 and 100 (one session), 7,200 (a return); user 2: events at 500 and 2,000 (1,500 s
    apart: one session), never returns; the log ends at 10,000."""
    users = np.array([1, 1, 1, 2, 2, 3])
    seconds = np.array([0.0, 100.0, 7200.0, 500.0, 2000.0, 10_000.0])
    after_return = min(1.0, S0 * math.exp(-LAM * 7200) + SA)
    want = [
        after_return,                                  # the activeness its next return (7,200) led to
        after_return,
        after_return * math.exp(-LAM * 2800),          # no return after it: decayed to the log's end
        S0 * math.exp(-LAM * (10_000 - 500)),          # never returns: S0 decayed from the first event
        S0 * math.exp(-LAM * (10_000 - 500)),
        S0,                                            # the log's last event: nothing to decay
    ]
    np.testing.assert_allclose(activeness(users, seconds), want, rtol=1e-12)


def test_explicit_end_and_parameters():
    users = np.array([7, 7])
    seconds = np.array([0.0, 4000.0])
    got = activeness(users, seconds, s0=0.2, lambda0=1e-4, sa=0.5, session_gap=5000.0, end=6000.0)
    np.testing.assert_allclose(got, [0.2 * math.exp(-1e-4 * 6000)] * 2)   # 4,000 s < gap: one session
    got = activeness(users, seconds, s0=0.2, lambda0=1e-4, sa=0.5, session_gap=4000.0, end=6000.0)
    s1 = 0.2 * math.exp(-0.4) + 0.5                                        # a gap of exactly 4,000 s is a return
    np.testing.assert_allclose(got, [s1, s1 * math.exp(-1e-4 * 2000)])
    with pytest.raises(ValueError, match="end"):
        activeness(users, seconds, end=3000.0)


def test_several_returns_chain_the_decay():
    seconds = np.array([0.0, 3600.0, 3700.0, 50_000.0])
    s1 = S0 * math.exp(-LAM * 3600) + SA
    s2 = min(1.0, s1 * math.exp(-LAM * (50_000 - 3600)) + SA)
    got = activeness(np.zeros(4, dtype=int), seconds, end=60_000.0)
    np.testing.assert_allclose(got, [s1, s2, s2, s2 * math.exp(-LAM * 10_000)])


def test_capped_at_one_after_quick_returns():
    seconds = np.arange(8) * SESSION_GAP_S                     # every event is a return
    got = activeness(np.zeros(8, dtype=int), seconds)
    assert got[0] == pytest.approx(S0 * math.exp(-LAM * SESSION_GAP_S) + SA)
    assert np.all(got[1:] == 1.0)                              # 0.5 → 0.81 → 1.12, capped → 1 …; the last row:
                                                               # capped at the log's end, no time left to decay
    assert np.all((got >= 0) & (got <= 1))


def test_row_order_does_not_matter():
    rng = np.random.default_rng(0)
    n = 3000
    users = rng.choice(np.array([-5, 3, 17, 10**9, 42]), size=n)
    seconds = np.round(rng.uniform(0, 5 * 86_400, size=n))     # rounded: ties in time within a user
    base = activeness(users, seconds)
    perm = rng.permutation(n)
    np.testing.assert_array_equal(activeness(users[perm], seconds[perm]), base[perm])
    assert np.all((base > 0) & (base <= 1))
    for user in np.unique(users):                             # one value per session
        mine = np.flatnonzero(users == user)
        by_time = mine[np.argsort(seconds[mine], kind="stable")]
        session = np.cumsum(np.r_[True, np.diff(seconds[by_time]) >= SESSION_GAP_S])
        for k in np.unique(session):
            assert np.unique(base[by_time[session == k]]).size == 1


def test_matches_a_row_by_row_reference():
    """The vectorised computation against a plain loop over each user's events."""
    rng = np.random.default_rng(1)
    users = rng.integers(0, 30, size=800)
    seconds = rng.exponential(20_000, size=800).cumsum() % 400_000
    end = float(seconds.max()) + 1000.0
    want = np.empty(len(users))
    for user in np.unique(users):
        rows = np.flatnonzero(users == user)
        rows = rows[np.argsort(seconds[rows], kind="stable")]
        times = seconds[rows]
        s, s_time, previous = S0, times[0], times[0]
        starts = [(times[0], S0)]                              # (session start, S right after it)
        for t in times[1:]:
            if t - previous >= SESSION_GAP_S:
                s = min(1.0, s * math.exp(-LAM * (t - s_time)) + SA)
                s_time = t
                starts.append((t, s))
            previous = t
        for row, t in zip(rows, times, strict=True):
            later = [value for start, value in starts if start > t]
            want[row] = later[0] if later else s * math.exp(-LAM * (end - s_time))
    np.testing.assert_allclose(activeness(users, seconds, end=end), want, rtol=1e-12)


def test_strings_and_empty():
    got = activeness(np.array(["b", "a", "b"]), np.array([0.0, 10.0, 2000.0]))
    back = S0 * math.exp(-LAM * 2000) + SA
    np.testing.assert_allclose(got, [back, S0 * math.exp(-LAM * 1990), back])
    assert activeness(np.array([], dtype=int), np.array([])).shape == (0,)
    with pytest.raises(ValueError, match="one length"):
        activeness(np.array([1, 2]), np.array([0.0]))


def test_reward():
    clicks = np.array([1, 0, 0, 1])
    active = np.array([0.3, 0.9, 0.0, 1.0])
    np.testing.assert_array_equal(reward(clicks, active, beta=0.0), clicks.astype(float))
    np.testing.assert_allclose(reward(clicks, active, beta=0.5), [1.15, 0.45, 0.0, 1.5])
    assert reward(clicks, active, 0.0).dtype == np.float64
