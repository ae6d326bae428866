"""Leaderboard: every recorded trial of a study, ranked on the validation metric, with charts; and
"Use this model": score an uploaded file with a stored model or the ensemble (and judge it on the file's
labels, when it has them). What is read and computed from the database is kept until the study changes
(``Store.study_version``), so a rerun or a new visit only draws."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from automl.data.names import safe_file_name
from automl.data.schema import MAXIMIZE, SHOWN_METRICS
from automl.errors import CrossBoardError
from automl.evaluation.comparison import Comparison
from automl.evaluation.ensemble import ENSEMBLE_TASKS
from automl.reporting.leaderboard import Leaderboard, read_leaderboard, table
from automl.reporting.online import is_online
from automl.reporting.verdict import Report, study_report
from automl.search import ensembles
from automl.serving.export import export_name, zipped_export
from automl.serving.score import FILE_METRICS, SCORE_TASKS, Scorer, score_file, study_scorer, unseen_report
from automl.training.artifacts import LOADABLE
from models import REGISTRY
from storage.tables import TrialState
from ui import common
from ui.data_page import FILE_TYPES
from ui.online_panel import online_tab
from ui.svg import Interval, interval_chart

BASELINE = "gbdt"
REFRESH_S = 5.0
BEST_STORED, ENSEMBLE = "the best model", "the ensemble"
PREVIEW_ROWS = 100
BEST_VIEW, TRIALS_VIEW, SEARCH_VIEW, USE_VIEW, ONLINE_VIEW = (
    "Best per model", "All trials", "Search history", "Use this model", "Online")


@st.cache_data(show_spinner=False, max_entries=64)
def cached_leaderboard(url: str, study_id: int, version: tuple, models: tuple[str, ...] | None = None) -> Leaderboard:
    """``read_leaderboard`` (of ``models`` only, when given), read again only when the study changed
    (``version``: ``Store.study_version``)."""
    store = common.store()
    return read_leaderboard(store, store.find_study(study_id), models)


@st.cache_data(show_spinner=False, max_entries=32)
def cached_report(url: str, study_id: int, version: tuple) -> Report:
    """``study_report`` (the verdict in words, with PED-ANOVA importances and the consensus pairs), written
    again only when the study changed."""
    store = common.store()
    return study_report(store, store.find_study(study_id))


def with_family(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame.insert(2, "family", [REGISTRY[m].family if m in REGISTRY else "" for m in frame["model"]])
    return frame


def versus_baseline(best: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Add each model's margin over GBDT's best validation value (positive: better than GBDT)."""
    column = f"val_{metric}"
    if best.empty or BASELINE not in set(best["model"]):
        return best
    baseline = best.loc[best["model"] == BASELINE, column].iloc[0]
    margin = best[column] - baseline if metric in MAXIMIZE else baseline - best[column]
    best = best.copy()
    best.insert(best.columns.get_loc(column) + 1, f"vs_{BASELINE}", margin.round(4))
    return best


def search_chart(records: list[dict], best: pd.DataFrame, metric: str) -> go.Figure:
    """One figure (one chart for the browser to draw, not two): left, the validation metric per trial,
    colored by model, with the best-so-far line; right, each model's best, colored by family; each side
    with its own legend."""
    figure = make_subplots(rows=1, cols=2, horizontal_spacing=0.12,
                           subplot_titles=("Optimization history", f"Best validation {metric} per model"))
    done = sorted((r for r in records if r["state"] == TrialState.COMPLETE and r["val"].get(metric) is not None),
                  key=lambda r: r["trial"])
    points = pd.DataFrame({"trial": [r["trial"] for r in done], "model": [r["model"] for r in done],
                           metric: [r["val"][metric] for r in done]})
    for model, group in points.groupby("model", sort=False):
        figure.add_trace(go.Scatter(x=group["trial"], y=group[metric], mode="markers", name=model, legend="legend",
                                    hovertemplate=f"trial %{{x}}: {metric} %{{y:.4f}}"), row=1, col=1)
    so_far = points[metric].cummax() if metric in MAXIMIZE else points[metric].cummin()
    figure.add_trace(go.Scatter(x=points["trial"], y=so_far, mode="lines", name="best so far", legend="legend",
                                line={"shape": "hv", "color": "black", "dash": "dot"}), row=1, col=1)
    column = f"val_{metric}"
    for family, group in best.groupby("family", sort=False):
        figure.add_trace(go.Bar(x=group["model"], y=group[column], name=family, texttemplate="%{y:.4f}",
                                legend="legend2"), row=1, col=2)
    low, high = best[column].min(), best[column].max()
    pad = (high - low) * 0.5 or abs(high) * 0.05 or 0.05
    figure.update_xaxes(title_text="trial", dtick=max(1, len(points) // 10), row=1, col=1)
    figure.update_xaxes(title_text="model", categoryorder="array", categoryarray=list(best["model"]), row=1, col=2)
    figure.update_yaxes(title_text=f"validation {metric}", row=1, col=1)
    figure.update_yaxes(range=[low - pad, high + pad], row=1, col=2)
    figure.update_layout(height=440, margin={"b": 120},
                         legend={"title_text": "model", "orientation": "h", "x": 0, "y": -0.28},
                         legend2={"title_text": "family", "orientation": "h", "x": 0.56, "y": -0.28})
    return figure


STANDING_COLORS = {"leader": "#1f77b4", "leader group": "#6baed6", "behind": "#fd8d3c", "clearly behind": "#d62728",
                   "under-explored": "#969696"}


def verdict_chart(verdict: Comparison) -> str:
    """Each model's test value on the shared rows with its 95% interval, coloured by its standing
    (the critical-difference view: overlapping bars are not told apart), as an SVG drawn here."""
    metric = verdict.metric
    return interval_chart([Interval(s.model, s.test[metric], *s.interval[metric], s.standing)
                           for s in verdict.standings], STANDING_COLORS, f"test {metric}",
                          title=f"Test {metric} with 95% intervals")


def verdict_caption(verdict: Comparison) -> str:
    return (f"standing on test {verdict.metric}: {verdict.test}, Holm-corrected over every pair of models, "
            f"95% intervals on the {verdict.rows:,} test rows (with the seeds' and searches' spread counted, "
            f"differences of about {verdict.detectable:.4f} from the leader can be told apart). leader: the best on "
            "validation; leader group: not told apart from it; behind: the test tells it apart; clearly behind: the intervals do not even overlap; under-explored: "
            "fewer than the fair minimum of trials, or every trial cut by the time cap, so not judged. "
            "better_than: the models it beats. A model run with several seeds is compared on its "
            "seed-averaged outputs, the spread over seeds added to the test's variance.")


def baseline_note(best: pd.DataFrame, metric: str) -> None:
    """Where GBDT, the non-deep baseline, stands among the models' best trials."""
    models = list(best["model"])
    if BASELINE not in models:
        st.caption(f"GBDT (the non-deep baseline) has no finished trial in this study; include `{BASELINE}` "
                   "to see how far the deep models are ahead of it.")
        return
    rank = models.index(BASELINE) + 1
    value = best[f"val_{metric}"].iloc[rank - 1]
    top = best.iloc[0]
    if rank == 1:
        text = f"GBDT (non-deep baseline) **leads** with validation {metric} {value:.4f}."
    else:
        text = (f"GBDT (non-deep baseline): validation {metric} {value:.4f}, **rank {rank} of {len(models)}** "
                f"models; best is {top['model']} at {top[f'val_{metric}']:.4f}.")
    st.info(text)


def ensemble_panel(record: dict | None, best: pd.DataFrame, metric: str, task: str) -> None:
    """The ensemble of the models' best trials beside the best single trial, on the test split."""
    if task not in ENSEMBLE_TASKS:
        return
    if record is None:
        st.caption("Ensemble: appears once two models have a complete trial (greedy selection over each "
                   "model's best trial, on validation).")
        return
    single = best.iloc[0]
    members = ", ".join(f"{name} {weight:.0%} (trial {record['params']['trials'][name]})"
                        for name, weight in record["params"]["weights"].items())
    left, right = st.columns(2)
    left.metric(f"Ensemble, test {metric}", f"{record['test'][metric]:.4f}",
                delta=f"{record['test'][metric] - single[f'test_{metric}']:+.4f} vs {single['model']}",
                delta_color="normal" if metric in MAXIMIZE else "inverse")
    right.metric(f"Best single model ({single['model']}), test {metric}", f"{single[f'test_{metric}']:.4f}")
    st.caption(f"Ensemble members: {members}. Weights chosen by greedy selection on validation {metric} "
               "(Caruana et al., 2004), so its validation figure is optimistic; compare on test.")


def diagnostics_link(study_id: int, frame: pd.DataFrame, rows: list[int]) -> None:
    """Under the trials table: a link to the selected trial's diagnostics."""
    if not rows or rows[0] >= len(frame):
        st.caption("Select a trial (the box at the left of its row) to open its diagnostics: which fields and "
                   "field pairs its model uses.")
        return
    row = frame.iloc[rows[0]]
    trial, model, state = int(row["trial"]), row["model"], row["state"]
    if state != TrialState.COMPLETE:
        st.caption(f"Trial {trial} ({model}) is {state}: only completed trials have diagnostics.")
        return
    st.page_link(common.PAGES["diagnostics"], label=f"Diagnostics of trial {trial} ({model})", icon=":material/hub:",
                 query_params={common.STUDY_PARAM: str(study_id), common.TRIAL_PARAM: str(trial)})


def main() -> None:
    st.title("Leaderboard")
    study = common.select_study(common.store(), key="leaderboard_select")
    if study is None:
        common.no_studies_yet()
        return
    active = study.status in common.ACTIVE_STUDY
    st.session_state["board_was_active"] = active
    st.fragment(board, run_every=REFRESH_S if active else None)(study.id)


def scorable_models(study) -> list[str]:
    """The models whose best trial kept a loadable model, when the study's task can score a file."""
    if study.task not in SCORE_TASKS:
        return []
    return sorted(model for model, (_, weights_format) in common.store().best_trials(study.id).items()
                  if weights_format in LOADABLE)


def use_model(study) -> None:
    """Score an uploaded file with a stored model or the ensemble; show and offer the scored rows."""
    store, kept = common.store(), scorable_models(study)
    st.subheader("Use this model")
    options = [BEST_STORED, *kept] + ([ENSEMBLE] if ensembles.stored(store, study.id) else [])
    choice = st.selectbox("Model", options, key=f"use_model_{study.id}",
                          help="each model's best trial keeps its fitted model; its outputs are calibrated as on "
                               "the leaderboard")
    if choice != ENSEMBLE:
        export_button(study, choice)
    upload = st.file_uploader("Rows to score: the training file's columns (the label may be left out)",
                              type=FILE_TYPES, key=f"use_upload_{study.id}")
    if upload is None:
        return
    key = (study.id, choice, upload.file_id)
    cached = st.session_state.get("use_model_result")
    if cached is None or cached[0] != key:
        try:
            with st.spinner(f"Scoring {common.plain(upload.name)}…"):
                cached = (key, *scored_upload(study, choice, upload))
        except CrossBoardError as error:
            st.error(common.plain(error))
            return
        st.session_state["use_model_result"] = cached
    _, scored, scorer = cached
    st.success(f"Scored {scorer.rows:,} rows with {common.plain(scorer.what)}: column "
               f"**{common.plain(scorer.output or scorer.column)}**.")
    for line in scorer.notes + unseen_report(scorer):
        st.info(common.plain(line))
    labelled_figures(scorer, study.task)
    st.dataframe(scored.head(PREVIEW_ROWS), hide_index=True, width="stretch")
    st.download_button("Download the scored rows (CSV)", lambda: scored.to_csv(index=False).encode(),
                       file_name=f"{safe_file_name(Path(upload.name).stem, 'scored')}-scored.csv", mime="text/csv", key="use_model_download")


def labelled_figures(scorer: Scorer, task: str) -> None:
    """The study task's metrics on the scored file's labelled rows, each with its 95% interval; or what it takes
    to see them."""
    figures = scorer.figures()
    label = scorer.schema.label if scorer.schema else None
    if not figures:
        if label:
            st.caption(f"The file has no labels in the column **{common.plain(label)}**; with them, its "
                       f"{' and '.join(FILE_METRICS[task])} would be shown here.")
        return
    st.caption(f"On the file's {scorer.labelled_rows:,} rows with a label (**{common.plain(label)}**), with 95% intervals:")
    for column, (metric, (value, low, high)) in zip(st.columns(len(figures)), figures.items(), strict=True):
        column.metric(metric, f"{value:.4f}", border=True)
        column.caption(f"95% interval [{low:.4f}, {high:.4f}]")


def export_button(study, choice: str) -> None:
    """Build the model's export (ONNX, encoder, card, predict.py) on demand and offer it as a zip."""
    model = None if choice == BEST_STORED else choice
    key = f"export_zip_{study.id}"
    if st.button("Prepare an export: model.onnx, encoder.json, card.json, predict.py", key=f"export_{study.id}",
                 help="a folder that scores CSV files with onnxruntime, numpy and pandas only "
                      "(python predict.py FILE > scored.csv)"):
        try:
            with st.spinner("Exporting…"):
                st.session_state[key] = (choice, zipped_export(common.store(), study, common.home(), model))
        except CrossBoardError as error:
            st.error(common.plain(error))
    cached = st.session_state.get(key)
    if cached is not None and cached[0] == choice:
        st.download_button("Download the export (zip)", cached[1], file_name=f"{export_name(study, model)}.zip",
                           mime="application/zip", key=f"export_download_{study.id}")


def scored_upload(study, choice: str, upload) -> tuple[pd.DataFrame, Scorer]:
    """(the upload's rows with the output column, the scorer): read and checked like an upload."""
    home = common.home()
    scorer = study_scorer(common.store(), study, home, model=choice if choice not in (BEST_STORED, ENSEMBLE) else None,
                          ensemble=choice == ENSEMBLE)
    incoming = home / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    path = incoming / f"{upload.file_id}{Path(upload.name).suffix}"
    path.write_bytes(upload.getvalue())
    parts: list[pd.DataFrame] = []
    try:
        score_file(scorer, path, incoming, lambda chunk, first: parts.append(chunk))
    finally:
        path.unlink(missing_ok=True)
    return pd.concat(parts, ignore_index=True), scorer


def board(study_id: int) -> None:
    store = common.store()
    study = store.find_study(study_id)
    if st.session_state.get("board_was_active") and study.status not in common.ACTIVE_STUDY:
        st.session_state["board_was_active"] = False
        st.rerun()  # the study ended: one last full render, then no more polling
    metric, names = study.metric, SHOWN_METRICS[study.task]
    version = store.study_version(study.id)
    every = cached_leaderboard(store.url, study.id, version)
    records = every.trials
    if not records:
        st.info(f"No trial of **{common.plain(study.name)}** has finished yet ({study.status}). Results appear here as "
                "soon as a trial ends.")
        st.page_link(common.PAGES["study"], label="Study progress", icon=":material/monitoring:",
                     query_params={common.STUDY_PARAM: str(study.id)})
        return
    present = sorted({r["model"] for r in records})
    shown = st.multiselect("Models", present, default=present, key=f"leaderboard_models_{study.id}")
    chosen = (every if set(shown) == set(present)
              else cached_leaderboard(store.url, study.id, version, tuple(sorted(shown))))
    records = chosen.trials
    if not records:
        st.info("No model selected.")
        return
    frame = with_family(table(records, names))
    best = versus_baseline(with_family(table(chosen.best, names, metric)), metric)
    st.caption(f"Ranked on validation {metric} ({study.direction}); test metrics are for reading only. "
               f"{sum(r['state'] == 'COMPLETE' for r in records)} complete of {len(records)} recorded trials.")
    if chosen.verdict is not None and chosen is every:
        report = cached_report(store.url, study.id, version)
        st.markdown(common.plain(" ".join(report.sentences)))
        st.caption(common.plain(report.protocol))
    if not best.empty and study.task != "implicit":    # implicit studies have their own baselines, pop and random
        baseline_note(best, metric)
    if not best.empty:
        ensemble_panel(chosen.ensemble, best, metric, study.task)
    views = board_views(study)
    tabs = dict(zip(views, st.tabs(views, key=f"leaderboard_tab_{study.id}", on_change="rerun"), strict=True))
    for name, tab in tabs.items():
        if tab.open:    # only the open tab is drawn: each table or chart costs the browser a fifth of a second
            with tab:
                draw_view(name, study, chosen, frame, best, records)


def board_views(study) -> list[str]:
    """The board's tabs, the verdict first; "Use this model" once a model is kept, "Online" for replays."""
    views = [BEST_VIEW, TRIALS_VIEW, SEARCH_VIEW]
    if scorable_models(study):
        views.append(USE_VIEW)
    if is_online(study):
        views.append(ONLINE_VIEW)
    return views


def draw_view(name: str, study, chosen: Leaderboard, frame: pd.DataFrame, best: pd.DataFrame,
              records: list[dict]) -> None:
    """One tab of the board: the best trial per model with the standings, every trial, the search's history,
    scoring a file, or the online replays."""
    metric = study.metric
    if name == TRIALS_VIEW:
        event = st.dataframe(frame, hide_index=True, width="stretch", on_select="rerun",
                             selection_mode="single-row", key=f"leaderboard_trials_{study.id}")
        diagnostics_link(study.id, frame, event.selection.rows)
        st.download_button("Download CSV", lambda: frame.to_csv(index=False).encode(),
                           file_name=f"{safe_file_name(study.name, f'study-{study.id}')}.csv",
                           mime="text/csv", key="leaderboard_csv")
    elif name == BEST_VIEW:
        st.dataframe(best, hide_index=True, width="stretch")
        if chosen.verdict is not None:
            st.caption(verdict_caption(chosen.verdict))
            st.markdown(verdict_chart(chosen.verdict), unsafe_allow_html=True)
        if "seeds" in best:
            st.caption(f"seeds: the model's best trial and its reruns with other seeds (the models in contention "
                       f"are re-run when the budget is spent, or with `crossboard reseed`); test {metric} mean and "
                       "sd over them. search_sd: how far the test figure of the model's best would move with another "
                       "search of the same size (a bootstrap over its trials); counted in the standings' tests.")
    elif name == SEARCH_VIEW:
        if best.empty:
            st.info("No complete trial yet: the charts appear with the first one.")
            return
        st.plotly_chart(search_chart(records, best, metric), width="stretch", key=f"leaderboard_search_{study.id}")
        st.page_link(common.PAGES["diagnostics"], label="Study diagnostics: the field pairs the models agree on",
                     icon=":material/hub:", query_params={common.STUDY_PARAM: str(study.id)})
    elif name == USE_VIEW:
        use_model(study)
    else:
        online_tab(study)


if __name__ == "__main__":
    main()
