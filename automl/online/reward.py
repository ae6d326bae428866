"""DRN's reward: click + beta · user activeness (Zheng et al., WWW 2018).

Activeness is a survival model of each user's return times in the log: S starts at S0 at the user's
first event and decays as S(t) = S · exp(-lambda0 · t) (t in seconds); at each return it jumps by Sa,
capped at 1 (the paper's S0 = 0.5, lambda0 = 1.2e-5 / s, i.e. a half-life near 16 h, Sa = 0.32).

A return is an event at least ``SESSION_GAP_S`` seconds after the same user's previous event: it starts
a new session, and the events before it belong to the previous session. The reward of a recommendation
is the activeness it led to, so a row gets the user's activeness right after their next return (the
start of the next session), or, when the user does not come back within the log, the activeness
decayed to the end of the log. Every row of one session thus gets the same value.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np

S0, LAMBDA0, SA = 0.5, 1.2e-5, 0.32
SESSION_GAP_S = 1800.0      # an event at least this long after the user's previous event is a return (a new session)


def activeness(users: np.ndarray, seconds: np.ndarray, *, s0: float = S0, lambda0: float = LAMBDA0,
               sa: float = SA, session_gap: float = SESSION_GAP_S, end: float | None = None) -> np.ndarray:
    """users: [n] user ids (any sortable dtype), seconds: float [n] event times (any order).

    -> float64 [n] in [0, 1] (for 0 <= s0 <= 1, sa >= 0, lambda0 >= 0): each row's activeness right after
    the user's next return after this row's session, or, when there is none, the activeness of the
    user's last session decayed to ``end`` (seconds; default the log's last time, never before it).
    """
    users = np.asarray(users)
    t = np.asarray(seconds, dtype=np.float64)
    if users.ndim != 1 or users.shape != t.shape:
        raise ValueError(f"users and seconds must be 1-D and of one length, got {users.shape} and {t.shape}")
    if len(t) == 0:
        return np.empty(0)
    end = float(t.max()) if end is None else float(end)
    if end < t.max():
        raise ValueError(f"end ({end}) is before the log's last event ({t.max()})")

    order = np.lexsort((t, users))                 # by user, then time
    u, ts = users[order], t[order]
    new_user = np.r_[True, u[1:] != u[:-1]]
    new_session = new_user | np.r_[True, np.diff(ts) >= session_gap]
    session_of_row = np.cumsum(new_session) - 1
    start = ts[new_session]                        # [sessions] start times, grouped by user, in time order
    first = new_user[new_session]                  # the session is its user's first
    last = np.r_[first[1:], True]                  # the session is its user's last
    first_index = np.flatnonzero(first)
    rank = np.arange(len(start)) - first_index[np.cumsum(first) - 1]   # 0 = the user's first session

    # S right after each session's start, one step per session rank, vectorised over users.
    s = np.full(len(start), float(s0))
    by_rank = np.argsort(rank, kind="stable")
    bounds = np.searchsorted(rank[by_rank], np.arange(1, rank.max() + 2))
    for lo, hi in pairwise(bounds):
        j = by_rank[lo:hi]                         # sessions of rank k; j - 1 is the same user's previous one
        s[j] = np.minimum(1.0, s[j - 1] * np.exp(-lambda0 * (start[j] - start[j - 1])) + sa)

    value = np.where(last, s * np.exp(-lambda0 * (end - start)), np.r_[s[1:], 0.0])
    out = np.empty(len(t))
    out[order] = value[session_of_row]
    return out


def reward(clicks: np.ndarray, active: np.ndarray, beta: float) -> np.ndarray:
    """clicks: [n] 0/1, active: float [n] activeness -> click + beta · activeness, float64 [n]."""
    return np.asarray(clicks, dtype=np.float64) + beta * np.asarray(active, dtype=np.float64)
