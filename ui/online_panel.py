"""The leaderboard's Online tab: how each (model, mode) did window by window on an online study's
stream (``automl.online``), and how often DRN's explore network won its duel."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from automl.reporting.online import NDCG, online_records, online_table
from ui import common

READING_GUIDE = ("Each window was scored before its labels were revealed, then each mode learned from it: static "
                 "never, incremental one pass over the window, retrain a refit on everything so far, drn DRN's duels "
                 "and replays. A line above another for most windows is a mode that keeps up with the log; the "
                 "first windows chose each mode's options and are not shown.")


def window_frame(records: list[dict]) -> pd.DataFrame:
    """One row per (model, mode, reported window): start time, rows, auc, logloss, ndcg@10 and, for
    DRN's own mode, the explore network's cumulative wins."""
    rows = []
    for record in records:
        wins = 0
        for window in record["online"].get("windows", []):
            duel = window.get("duel")
            wins += duel["adopted"] if duel else 0
            rows.append({"run": f"{record['model']} · {record['mode']}", "model": record["model"],
                         "mode": record["mode"], "window": window["window"],
                         "start": pd.to_datetime(window["start"], unit="s"), "rows": window["rows"],
                         "auc": window["auc"], "logloss": window["logloss"], NDCG: window.get(NDCG),
                         "explore_wins": wins if duel else None})
    return pd.DataFrame(rows)


def window_chart(frame: pd.DataFrame, metric: str) -> go.Figure:
    figure = go.Figure()
    for run, part in frame.groupby("run", sort=False):
        figure.add_scatter(x=part["start"], y=part[metric], mode="lines+markers", name=run)
    figure.update_layout(title=f"{metric} per window", xaxis_title="window start", yaxis_title=metric,
                         height=380, margin={"t": 40})
    return figure


def wins_chart(frame: pd.DataFrame) -> go.Figure:
    figure = go.Figure()
    for run, part in frame.dropna(subset=["explore_wins"]).groupby("run", sort=False):
        figure.add_scatter(x=part["start"], y=part["explore_wins"], mode="lines", line_shape="hv", name=run)
    figure.update_layout(title="DRN: cumulative wins of the explore network", xaxis_title="window start",
                         yaxis_title="duels won", height=380, margin={"t": 40})
    return figure


def online_tab(study) -> None:
    records = online_records(common.store(), study)
    if not records:
        st.info("The online replays start when the offline trials are done; they appear here as each finishes.")
        return
    st.caption(READING_GUIDE)
    st.dataframe(online_table(records), hide_index=True, width="stretch")
    done = [r for r in records if r["state"] == "done"]
    frame = window_frame(done)
    if frame.empty:
        return
    runs = list(dict.fromkeys(frame["run"]))
    left, right = st.columns([3, 1])
    shown = left.multiselect("Models and modes", runs, default=runs[: min(len(runs), 6)],
                             key=f"online_runs_{study.id}")
    metric = right.selectbox("Per-window metric", ["auc", "logloss", NDCG], key=f"online_metric_{study.id}")
    chosen = frame[frame["run"].isin(shown)]
    st.plotly_chart(window_chart(chosen, metric), width="stretch")
    if chosen["explore_wins"].notna().any():
        st.plotly_chart(wins_chart(chosen), width="stretch")
        st.caption("After each window (or each part of one: DRN's update window) DRN's live network duels a "
                   "perturbed copy on the impressions just revealed "
                   "(interleaved rankings, clicks credited to the side that placed the item); a win moves the live "
                   "network toward the copy.")
