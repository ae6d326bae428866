"""Which sequence column, if any, lists each row's past item ids (decided when a dataset is
saved, stored as ``Schema.item_history``)."""

from __future__ import annotations

import re

import pandas as pd

from automl.data.schema import Schema

MIN_ITEM_SHARE = 0.5        # a sequence column whose tokens are mostly item ids is an item history
BEHAVIOR_NAME = re.compile(r"hist|click|behav|view|watch|bought|buy|purchas|visit", re.IGNORECASE)
SAMPLE_ROWS = 20_000        # rows whose tokens decide whether a sequence column is an item history


def split_tokens(series: pd.Series, delimiter: str) -> pd.Series:
    """Delimited lists -> one non-empty token per entry, indexed by row position."""
    tokens = series.reset_index(drop=True).astype("string").fillna("").str.split(delimiter, regex=False).explode()
    return tokens[tokens.str.len() > 0]



def item_history_column(frame: pd.DataFrame, schema: Schema) -> str | None:
    """The sequence column that lists past item ids, if any: among the categorical columns, the
    item column's values must cover the most of its tokens, and at least MIN_ITEM_SHARE of them
    (or any share, when the column's name speaks of behavior: click, hist, view, ...)."""
    item = schema.names("item")
    if not item:
        return None
    values = {name: pd.Index(frame[name].astype("string").dropna().unique())
              for name in [item[0]] + schema.names("user", "categorical")}
    best, best_share = None, 0.0
    for column in (c for c in schema.columns if c.role == "sequence"):
        tokens = split_tokens(frame[column.name].head(SAMPLE_ROWS), column.delimiter or "|")
        if tokens.empty:
            continue
        shares = {name: float(tokens.isin(v).mean()) for name, v in values.items()}
        share = shares[item[0]]
        named = BEHAVIOR_NAME.search(column.name) is not None
        if share >= max(shares.values()) and (share >= MIN_ITEM_SHARE or (named and share > 0)) and share > best_share:
            best, best_share = column.name, share
    return best
