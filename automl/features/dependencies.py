"""Many-to-one maps between categorical fields (item -> category, user -> gender), found on the rows.

Field S determines field D when, among the rows whose S value repeats, the share of rows whose D
value is the most common D value of their S value is at least ``NEAR`` (0.99; 1.0: an exact map).
Two kinds of pair are left out because any S would "determine" them, whatever the data:

- D nearly constant (its own most common value holds ``NEAR`` of the rows): every field maps to it.
- S nearly a row id (fewer than ``MIN_REPEATED`` of the rows have an S value seen twice or more):
  a value seen once agrees with itself, so those rows say nothing; the share is counted over the rows
  whose S value repeats, and S must have enough of them for the share to rest on most of the data.

A pair that maps both ways is an alias (one-to-one: the same field under two names).
The rows are a random sample of at most ``MAX_ROWS`` (the share's standard error at 0.99 is then
below 0.0003, so the sample decides as the whole table would).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

NEAR = 0.99                 # share of rows a map must hold
MIN_REPEATED = 0.5          # share of rows whose source value must repeat
MAX_ROWS = 250_000          # rows sampled
SCREEN_ROWS = 20_000        # rows the pairs are screened on first
SCREEN_MARGIN = 0.02
DENSE_CELLS = 1 << 21       # joint counts by bincount below this many cells, else by sorting the pair codes


@dataclass(frozen=True)
class Dependency:
    """``source`` determines ``determined`` (indices of the fields given) on ``share`` of the rows."""

    source: int
    determined: int
    share: float


def joint_counts(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct (a, b) value pairs of two int64 code columns [n] (>= 0): (a [m], b [m], rows [m]),
    sorted by a then b."""
    width = int(b.max()) + 1 if len(b) else 1
    cells = (int(a.max()) + 1 if len(a) else 1) * width
    if cells <= DENSE_CELLS:
        counts = np.bincount(a * width + b, minlength=cells)
        keys = np.flatnonzero(counts)
        rows = counts[keys]
    else:
        keys, rows = np.unique(a * width + b, return_counts=True)
    return keys // width, keys % width, rows


def compact(values) -> np.ndarray:
    """Any values [n] (a column) -> int64 codes 0..k-1, missing values one code of their own; mixed or
    unhashable values (lists from Parquet) compared as text."""
    if getattr(values, "dtype", None) == object:
        values = pd.Series(values).astype("string")
    return pd.factorize(values, use_na_sentinel=False)[0].astype(np.int64)


def field_dependencies(table: np.ndarray, seed: int = 0) -> list[Dependency]:
    """Every (S, D) of the columns of ``table`` (int64 codes [n, F], e.g. a memory-mapped ``cat`` split;
    only the sampled rows are read) where S determines D (module docstring), strongest share first.

    Pairs are screened on ``SCREEN_ROWS`` of the sampled rows first: a group's most common share in a
    subsample is at least its share in all the rows on average, so a pair whose screened share falls
    ``SCREEN_MARGIN`` short cannot hold the map."""
    n = table.shape[0]
    if n == 0 or table.shape[1] < 2:
        return []
    rng = np.random.default_rng(seed)
    sample = table[np.sort(rng.choice(n, MAX_ROWS, replace=False))] if n > MAX_ROWS else np.asarray(table)
    codes = np.stack([compact(sample[:, j]) for j in range(sample.shape[1])])       # [F, n]
    n = codes.shape[1]
    sizes = [np.bincount(c) for c in codes]
    testable = [(s[c] > 1).mean() >= MIN_REPEATED for s, c in zip(sizes, codes, strict=True)]
    viable = [s.max() < NEAR * n for s in sizes]          # D not nearly constant
    candidates = {(a, b) for a in range(len(codes)) for b in range(len(codes))
                  if a != b and testable[a] and viable[b]}
    screen = codes[:, rng.permutation(n)[:SCREEN_ROWS]]
    for rows, bar in ((screen, NEAR - SCREEN_MARGIN), (codes, NEAR)):
        shares = {}
        for a, b in {tuple(sorted(p)) for p in candidates}:
            forward, backward = map_shares(rows[a], rows[b])
            shares[a, b], shares[b, a] = forward, backward
        candidates = {p for p in candidates if shares[p] >= bar}
    found = [Dependency(a, b, shares[a, b]) for a, b in candidates]
    return sorted(found, key=lambda x: (-x.share, x.source, x.determined))


def map_shares(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(a -> b, b -> a) for code columns [n]: the share of rows whose ``b`` is the most common ``b`` of their
    ``a`` value, over the rows whose ``a`` value repeats (NaN without any), and the same the other way."""
    pa, pb, rows = joint_counts(a, b)
    order = np.lexsort((pa, pb))
    return _share(pa, rows), _share(pb[order], rows[order])


def _share(key: np.ndarray, rows: np.ndarray) -> float:
    """Given value pairs grouped by ``key`` [m] with their ``rows`` [m]: the share of the rows of the keys seen
    twice or more that their key's most common pair holds."""
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    most, total = np.maximum.reduceat(rows, starts), np.add.reduceat(rows, starts)
    repeated = total > 1
    return float(most[repeated].sum() / total[repeated].sum()) if repeated.any() else float("nan")


def aliases(dependencies: list[Dependency]) -> set[frozenset[int]]:
    """The field pairs that determine each other (one-to-one maps)."""
    one_way = {(d.source, d.determined) for d in dependencies}
    return {frozenset(p) for p in one_way if p[::-1] in one_way}


def describe(dependencies: list[Dependency], names: list[str]) -> list[str]:
    """One sentence per map: "category is determined by item_id (99.7% of rows)", an alias said once."""
    both = aliases(dependencies)
    said, lines = set(), []
    for d in dependencies:
        pair = frozenset((d.source, d.determined))
        if pair in said:
            continue
        share = "every row" if d.share >= 1.0 else f"{d.share:.1%} of rows"
        if pair in both:
            said.add(pair)
            lines.append(f"{names[d.source]} and {names[d.determined]} are aliases: each determines the other "
                         f"({share})")
        else:
            lines.append(f"{names[d.determined]} is determined by {names[d.source]} ({share})")
    return lines
