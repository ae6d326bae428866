"""Diagnostics: which fields and field pairs the models use. The study view: the pairs the models'
best trials agree on, every discrete option compared across trials, the options' importance per
model, and a new study that lets Wide & Deep cross the detected pairs. The trial view (?trial=N):
one trial's pair interactions, field importance and the model's own views of them, computed here and now
when none are kept. What is read and computed from the database is kept until the study changes
(``Store.study_version``)."""

from __future__ import annotations

import html
import json
import time
from typing import TypedDict

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from automl.data.datasets import schema_of
from automl.data.names import MAX_NAME_CHARS
from automl.data.schema import CROSSABLE_ROLES, MAXIMIZE
from automl.diagnostics.consensus import crosses_among
from automl.diagnostics.results import (
    ConsensusPair,
    DiagnosticsFailed,
    DiagnosticsFailure,
    TrialDiagnostics,
    kept_diagnostics,
)
from automl.diagnostics.stored import kept_json
from automl.errors import CrossBoardError
from automl.reporting.diagnostics import MIN_IMPORTANCE_TRIALS, TRIAL_STEPS, study_diagnostics, trial_view
from automl.reporting.leaderboard import best_per_model, ranked, trial_records
from automl.search.capabilities import model_availability
from automl.search.config import StudyConfig
from models import REGISTRY
from storage import Store
from storage.tables import StudyRow, TrialState
from ui import common
from ui.svg import Interval, interval_chart, pair_map

VIEWS = ("Study", "One trial")
STUDY_TABS = ("Field pairs", "Options compared", "Which options mattered")
TOP_PAIRS = 15              # pairs in a ranked bar chart
MAX_OPTION_PLOTS = 12       # option box plots shown at once (smallest p-value first)
# the model that crosses an earlier study's diagnosed pairs (its option cross_source="diagnosed")
CROSSING = next(card for card in REGISTRY.values() if "diagnosed" in card.pair_sources)
OWN_VIEWS = {               # what each model's own pair measure is
    "fm": "the variance of the factorization machine's pair term ⟨v_a, v_b⟩·x_a·x_b over the rows",
    "bi_interaction": "the size of the pair's element-wise product in the bi-interaction pooling",
    "afm": "the variance of the pair's attention-weighted term over the rows",
    "products": "the size of the pair's product in the product layer",
    "cross_weights": "the norm of the cross network's weight block linking the two fields",
    "attention": "the self-attention weight between the two fields, averaged over heads and rows",
    "wide_crosses": "the spread of the wide part's weights on the pair's cross",
    "gates": "the learned gate |α| on the pair's term (option pair_gates=gated: an L1 penalty pulls the gates of "
             "pairs the model does not need towards 0)",
}


# -- figures ---------------------------------------------------------------------------------------

def as_text(name: str) -> str:
    """A column name as plotly text: its pseudo-HTML (tags, links) escaped, shown as typed."""
    return html.escape(str(name), quote=False)


def pair_name(fields: list[str]) -> str:
    """A pair as typed, "a × b" (for tables, which show text as it is)."""
    return " × ".join(map(str, fields))


def band_error(rows: list[dict], value: str) -> dict:
    """Plotly error bars from each row's ``low``/``high`` band around ``value``."""
    return {"type": "data", "symmetric": False,
            "array": [max(0.0, r["high"] - r[value]) for r in rows],
            "arrayminus": [max(0.0, r[value] - r["low"]) for r in rows]}


def field_order(pairs: list[dict], preferred: list[str] | None = None) -> list[str]:
    """The fields the pairs name: in ``preferred``'s order where given, else by total strength."""
    named = {f for p in pairs for f in p["fields"]}
    if preferred:
        return [f for f in preferred if f in named] + sorted(named - set(preferred))
    total: dict[str, float] = {}
    for p in pairs:
        for f in p["fields"]:
            total[f] = total.get(f, 0.0) + max(p["strength"], 0.0)
    return sorted(named, key=lambda f: (-total[f], f))


def pair_matrix(pairs: list[dict], names: list[str]) -> np.ndarray:
    """Symmetric [F, F] strengths (NaN on the diagonal and for pairs not measured)."""
    index = {name: k for k, name in enumerate(names)}
    matrix = np.full((len(names), len(names)), np.nan)
    for p in pairs:
        a, b = p["fields"]
        if a in index and b in index and a != b:
            matrix[index[a], index[b]] = matrix[index[b], index[a]] = p["strength"]
    return matrix


def pair_bars(shown: list[dict], title: str, band: str) -> str:
    """The ``shown`` pairs' strengths with their ``band`` (low to high) as an SVG; a pair's folded shadows
    ("also seen as") in its hover text."""
    rows = []
    for p in shown:
        also = ", ".join(pair_name(a["fields"] if isinstance(a, dict) else a) for a in p.get("also", []))
        rows.append(Interval(pair_name(p["fields"]), p["strength"], min(p["low"], p["strength"]),
                             max(p["high"], p["strength"]), "pair", f"; also seen as {also}" if also else ""))
    return interval_chart(rows, {"pair": "#1f77b4"}, "strength", title=title, band=band, legend=False, width=480)


def consensus_charts(consensus: list[dict], top: int = TOP_PAIRS) -> tuple[str, str]:
    """(the strongest consensus pairs as bars, the consensus pair map), as SVG drawn here."""
    names = field_order(consensus)
    return (pair_bars(consensus[:top], "Consensus pairs: the strongest", "95% bootstrap interval"),
            pair_map(pair_matrix(consensus, names), names, "consensus", title="Consensus pair map", high=1.0))


def trial_pair_charts(pairs: list[dict], folded: list[dict] | None, preferred: list[str],
                      top: int = TOP_PAIRS) -> tuple[str, str]:
    """(the trial's pair map: the pairs as measured, fields in ``preferred``'s order; the strongest pairs as
    bars, ``folded`` ones (shadows under their source) when given), as SVG drawn here."""
    names, shown = field_order(pairs, preferred), (folded if folded is not None else pairs)[:top]
    bars = "Interactions (shadows folded)" if folded is not None else "Strongest pairs"
    return (pair_map(pair_matrix(pairs, names), names, "strength", title="Pair interaction map"),
            pair_bars(shown, bars, "±2 standard errors"))


def importance_bars(fields: list[dict], metric: str) -> go.Figure:
    figure = go.Figure(go.Bar(
        x=[f["importance"] for f in fields], y=[as_text(f["field"]) for f in fields], orientation="h",
        error_x=band_error(fields, "importance"), marker_color="#2ca02c",
        hovertemplate="%{y}: %{x:+.4f}<extra></extra>"))
    figure.update_layout(title="Field importance", height=max(280, 60 + 26 * len(fields)),
                         yaxis_autorange="reversed", xaxis_title=f"drop of validation {metric} when shuffled")
    return figure


def recency_chart(by_recency: list[float | None]) -> go.Figure:
    steps = [k for k, w in enumerate(by_recency) if w is not None]
    figure = go.Figure(go.Bar(x=steps, y=[by_recency[k] for k in steps], marker_color="#9467bd",
                              hovertemplate="%{x} steps back: %{y:.2f}× uniform<extra></extra>"))
    figure.add_hline(y=1.0, line_dash="dot", line_color="black", annotation_text="uniform")
    figure.update_layout(title="Attention by recency", height=320, xaxis_title="steps back (0 = newest)",
                         yaxis_title="weight ÷ uniform weight", xaxis_dtick=1)
    return figure


def attribute_chart(by_attribute: dict[str, dict]) -> go.Figure:
    names = list(by_attribute)
    labels = [as_text(n) for n in names]
    figure = go.Figure()
    for side, colour in (("same", "#d62728"), ("other", "#7f7f7f")):
        figure.add_trace(go.Bar(
            name=f"{side} as the candidate", x=labels, y=[by_attribute[n][side] for n in names], marker_color=colour,
            customdata=[by_attribute[n][f"{side}_steps"] for n in names],
            hovertemplate="%{x}: %{y:.2f}× uniform over %{customdata} steps<extra></extra>"))
    figure.add_hline(y=1.0, line_dash="dot", line_color="black")
    figure.update_layout(title="Attention to steps sharing the candidate's attribute", barmode="group", height=320,
                         yaxis_title="weight ÷ uniform weight", xaxis_title="attribute")
    return figure


def example_strip(examples: list[dict]) -> go.Figure:
    """One row per example history, steps oldest (left) to newest (right), newest aligned; a dot
    marks the steps sharing the candidate's attribute."""
    width = max(len(e["weights"]) for e in examples)
    weights = np.full((len(examples), width), np.nan)
    marks = [[""] * width for _ in examples]
    for row, example in enumerate(examples):
        start = width - len(example["weights"])
        weights[row, start:] = example["weights"]
        for k, shared in enumerate(example["shares"]):
            marks[row][start + k] = "●" if shared else ""
    figure = go.Figure(go.Heatmap(
        z=weights, x=[f"{width - 1 - k}" for k in range(width)], y=[f"row {r + 1}" for r in range(len(examples))],
        text=marks, texttemplate="%{text}", colorscale="Purples", zmin=0, colorbar={"title": "weight"},
        hoverongaps=False, hovertemplate="%{y}, %{x} steps back: weight %{z:.3f}<extra></extra>"))
    figure.update_layout(title=f"Example histories (● shares the candidate's {examples[0]['attribute']})",
                         height=max(240, 80 + 30 * len(examples)), yaxis_autorange="reversed",
                         xaxis_title="steps back (oldest left, newest right)")
    return figure


def share_chart(share: dict) -> go.Figure:
    figure = go.Figure(go.Bar(x=[share["wide"], share["deep"]], y=["wide", "deep"], orientation="h",
                              marker_color=["#ff7f0e", "#1f77b4"], text=[f"{share['wide']:.0%}", f"{share['deep']:.0%}"],
                              textposition="auto"))
    figure.update_layout(title="Share of the logit's variance", height=200, xaxis_range=[0, 1],
                         xaxis_tickformat=".0%", margin={"t": 40, "b": 30})
    return figure


def value_label(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def option_box(comparison: dict, metric: str) -> go.Figure:
    figure = go.Figure()
    for group in comparison["values"]:
        figure.add_trace(go.Box(y=group["metrics"], name=f"{value_label(group['value'])} (n={group['count']})",
                                boxpoints="all", jitter=0.3, pointpos=0, showlegend=False))
    p = comparison["p_value"]
    figure.update_layout(title=f"{comparison['model']}.{comparison['option']} · "
                               f"p = {'—' if p is None else f'{p:.3g}'}",
                         height=320, yaxis_title=f"validation {metric}")
    return figure


def parameter_chart(model: str, importances: dict[str, float]) -> go.Figure:
    ranked = sorted(importances.items(), key=lambda kv: -kv[1])
    figure = go.Figure(go.Bar(x=[v for _, v in ranked], y=[k for k, _ in ranked], orientation="h",
                              marker_color="#8c564b", hovertemplate="%{y}: %{x:.3f}<extra></extra>"))
    figure.update_layout(title=f"{model}: option importance", height=max(220, 60 + 26 * len(ranked)),
                         yaxis_autorange="reversed", xaxis_title="PED-ANOVA importance")
    return figure


def drawn_side_by_side(charts: tuple[str, str], widths: list[float], caption: str) -> None:
    """Two SVG charts drawn here, side by side, with the one line that says how to read them."""
    for column, svg in zip(st.columns(widths), charts, strict=True):
        column.markdown(svg, unsafe_allow_html=True)
    st.caption(caption)


def chart(figure: go.Figure, caption: str, key: str, where=st) -> None:
    """A chart with the one line that says how to read it."""
    where.plotly_chart(figure, width="stretch", key=key)
    where.caption(caption)


# -- the study view ------------------------------------------------------------------------------

@st.cache_data(show_spinner="Comparing the trials…", max_entries=32)
def cached_study_diagnostics(url: str, study_id: int, version: tuple) -> dict:
    """``study_diagnostics``, computed again only when the study changed (``version``: ``Store.study_version``)."""
    store = common.store()
    return study_diagnostics(store, store.find_study(study_id))


def study_view(store: Store, study: StudyRow, version: tuple) -> None:
    """What the trials say together, one tab at a time: only the open tab is drawn (each chart costs the
    browser a fifth of a second or so to draw), switching reruns the page from what is kept."""
    found = cached_study_diagnostics(store.url, study.id, version)
    pairs, options, importance = st.tabs(STUDY_TABS, key=f"diagnostics_study_tab_{study.id}", on_change="rerun")
    if pairs.open:
        with pairs:
            consensus_panel(found["consensus"], found.get("weights", {}), found.get("not_interactions", []),
                            found.get("misses", []))
    if options.open:
        with options:
            options_panel(found["options"], study.metric, study.id)
    if importance.open:
        with importance:
            importance_panel(found["importance"])
    tune_again_panel(store, study, found["consensus"])


def consensus_table(consensus: list[dict]) -> pd.DataFrame:
    """The consensus pairs as a table (names as typed: a table shows text, not markup)."""
    return pd.DataFrame([{"pair": pair_name(p["fields"]), "strength": p["strength"], "low": p["low"],
                          "high": p["high"], "models": p["models"], "data": p.get("data"),
                          "also seen as": ", ".join(pair_name(a) for a in p.get("also", []))} for p in consensus])


def consensus_panel(consensus: list[dict], weights: dict[str, float], not_interactions: list[dict],
                    misses: list[dict]) -> None:
    st.subheader("Field pairs the models agree on")
    if not consensus:
        st.info("No model's best trial has diagnostics yet: they are computed for each model's best trial when "
                "the study's trials are done. To see a trial's now, choose **One trial** above.")
        return
    st.caption("Each voter (a model's best trial, and the data itself where known) ranks the field pairs by how "
               "much of its output only the two fields together explain, a pair seen through a field that "
               "determines another (item_id for its category) folded under the pair it shadows; each voter is "
               "scaled by its strongest pair (1 = that pair), then the voters are averaged, each model weighted "
               "by its validation quality relative to the best."
               + (" Weights: " + ", ".join(f"{common.plain(v)} {w:.2f}" for v, w in weights.items()) + "."
                  if weights else ""))
    drawn_side_by_side(consensus_charts(consensus), [0.45, 0.55],
                       "Bar: the pair's weighted strength over the voters (1 = every voter's strongest pair); "
                       "whisker: its 95% bootstrap interval over the voters (within 0 and 1). Each cell of the map: "
                       "the pair's consensus strength (0 = no voter finds the two fields interact). Darker = "
                       "stronger. Hover for the figures.")
    every = st.expander("Every pair, as a table", key="consensus_every", on_change="rerun")
    if every.open:      # drawn when opened: a table costs the browser a few tenths of a second
        every.dataframe(consensus_table(consensus), hide_index=True, width="stretch", key="consensus_table",
                        column_config={name: st.column_config.NumberColumn(format="%.3f")
                                       for name in ("strength", "low", "high", "data")}
                        | {"models": st.column_config.NumberColumn(help="models whose best trial finds the pair at all"),
                           "data": st.column_config.NumberColumn(format="%.3f",
                                                                 help="the model-free voter's strength")})
    if not_interactions:
        st.caption("Not interactions (a field paired with one it determines): " + "; ".join(
            f"{common.plain(pair_name(p['fields']))} ({common.plain(p['reason'])})" for p in not_interactions) + ".")
    if misses:
        st.markdown("**Pairs a model did not learn**\n\n" + "\n".join(f"- {common.plain(m['sentence'])}"
                                                                         for m in misses))
        st.caption("A pair another voter shows among its three strongest while the model ranks it below its top "
                   "three and under a quarter of its strongest pair. The measure itself finds a pair a model uses "
                   "through a 24-value categorical field (tested), so such a miss is the model's.")


def options_panel(options: list[dict], metric: str, study_id: int) -> None:
    st.subheader("Options compared across trials")
    if not options:
        st.info("No discrete option took two values in a model's completed trials yet.")
        return
    models = sorted({c["model"] for c in options})
    chosen = st.selectbox("Model", ["all models", *models], key=f"diagnostics_option_model_{study_id}")
    shown = [c for c in options if chosen == "all models" or c["model"] == chosen]
    st.caption(f"Validation {metric} of each trial, grouped by the value of one option; p: Kruskal–Wallis test "
               "over the values tried twice or more (small p: the values really differ; — : too few trials). "
               "Smallest p first.")
    columns = st.columns(2)
    for k, comparison in enumerate(shown[:MAX_OPTION_PLOTS]):
        chart(option_box(comparison, metric),
              f"Each box: the validation {metric} of the trials with that value (dots: the trials); "
              f"{'higher' if metric in MAXIMIZE else 'lower'} is better.",
              key=f"option_{comparison['model']}_{comparison['option']}", where=columns[k % 2])
    if len(shown) > MAX_OPTION_PLOTS:
        st.caption(f"{len(shown) - MAX_OPTION_PLOTS} more option(s) with larger p; pick one model to narrow down.")


def importance_panel(importance: dict[str, dict[str, float]]) -> None:
    st.subheader("Which options mattered, per model")
    if not importance:
        st.info(f"Option importance needs at least {MIN_IMPORTANCE_TRIALS} completed trials of a model "
                "(with different values of its options).")
        return
    columns = st.columns(min(3, len(importance)))
    for k, (model, found) in enumerate(importance.items()):
        chart(parameter_chart(model, found),
              "Bar: how much the option explains where the model's best trials lie (PED-ANOVA; the options "
              "of one model sum to 1). Longer = mattered more.", key=f"importance_{model}",
              where=columns[k % len(columns)])


def next_name(store: Store, name: str) -> str:
    """The first of ``<name>-crossed``, ``<name>-crossed-2``, … no study has (``name`` cut to fit)."""
    base = name[:MAX_NAME_CHARS - 16] + "-crossed"
    candidate, n = base, 2
    while store.find_study(candidate) is not None:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def tune_again_panel(store: Store, study: StudyRow, consensus: list[ConsensusPair]) -> None:
    st.subheader("Tune again with the detected crosses")
    dataset = store.find_dataset(study.dataset_id)
    if dataset is None:
        st.caption("The study's dataset is no longer stored, so it cannot be tuned again.")
        return
    schema = schema_of(dataset)
    crosses = crosses_among(consensus, set(schema.names(*CROSSABLE_ROLES)))
    config = StudyConfig.from_json(study.config_json)
    config.diagnosed_pairs = crosses
    config.workers = max(config.workers, 1)       # started here, as the New study page does
    if crosses:
        st.caption(f"A new study on **{common.plain(dataset.name)}** with this study's settings, in which {CROSSING.name} may "
                   f"also cross these consensus pairs (option cross_source = diagnosed): "
                   f"{common.plain(', '.join(pair_name(p) for p in crosses))}.")
    else:
        st.caption("No pair of categorical columns has a consensus strength above 0 yet, so there is nothing to "
                   "cross: the button is enabled once the models' best trials have diagnostics that find one.")
    if CROSSING.name not in config.models:
        why = model_availability(schema, study.task)[CROSSING.name]
        add = st.checkbox(f"Add {CROSSING.title} (the model that crosses them)", value=why is None,
                          key=f"diagnostics_add_{CROSSING.name}_{study.id}", disabled=why is not None or not crosses,
                          help=why or f"the diagnosed crosses are an option of {CROSSING.name} only")
        if add and why is None:
            config.models = [*config.models, CROSSING.name]
        elif crosses:
            st.caption(f"Without {CROSSING.name} the new study's models do not use the crosses"
                       + (f" ({CROSSING.name} is unavailable: {why})." if why else "."))
    if st.button("Tune again with the detected crosses", key=f"diagnostics_tune_again_{study.id}", type="primary",
                 disabled=not crosses):
        with common.user_errors():
            common.launch_study(store, dataset, config, task=study.task, metric=study.metric,
                                name=next_name(store, study.name))


# -- the trial view -----------------------------------------------------------------------------

def query_trial() -> int | None:
    wanted = st.query_params.get(common.TRIAL_PARAM)
    return int(wanted) if wanted and wanted.isdigit() else None


class Trials(TypedDict):
    """What the trial pickers offer (``cached_trials``; a dict: the classes of a page script cannot be cached)."""

    models: list[str]                                  # the leaderboard's order: best first
    completed: dict[int, tuple[str, float | None]]     # trial number -> (model, validation metric), best first
    best: dict[str, int]                               # model -> its stored best trial
    diagnosed: set[int]                                # the trials with kept diagnostics (a failure's included)


@st.cache_data(show_spinner=False, max_entries=32)
def cached_trials(url: str, study_id: int, version: tuple) -> Trials:
    """The study's completed trials, read again only when the study changed (``version``)."""
    store = common.store()
    study = store.find_study(study_id)
    records = trial_records(store, study)
    complete = [r for r in ranked(records, study.metric) if r["state"] == TrialState.COMPLETE]
    leaders = [r["model"] for r in best_per_model(records, study.metric)]
    return Trials(models=leaders + sorted({r["model"] for r in complete} - set(leaders)),
                  completed={r["trial"]: (r["model"], r["val"].get(study.metric)) for r in complete},
                  best={model: number for model, (number, _) in store.best_trials(study.id).items()},
                  diagnosed=store.diagnosed_trials(study.id))


@st.cache_data(show_spinner=False, max_entries=64)
def cached_kept(url: str, study_id: int, version: tuple, number: int) -> TrialDiagnostics | DiagnosticsFailure | None:
    """The trial's diagnostics as kept (``kept_json``), read again only when the study changed."""
    return kept_json(common.store(), study_id, number)


def pick_trial(study: StudyRow, trials: Trials) -> int:
    """Model (the leaderboard's best first) and trial (its completed ones, best first) pickers, the
    trial in the URL (?trial=N) chosen first; the choice is written back to the URL."""
    wanted = query_trial()
    if wanted is not None and wanted not in trials["completed"]:
        st.warning(f"Trial {wanted} is not a completed trial of {common.plain(study.name)}; pick one below.")
        wanted = None
    left, right = st.columns(2)
    default_model = trials["completed"][wanted][0] if wanted is not None else trials["models"][0]
    model = left.selectbox("Model", trials["models"], index=trials["models"].index(default_model),
                           key=f"diagnostics_model_{study.id}", help="best first, as on the leaderboard")
    numbers = [number for number, (of, _) in trials["completed"].items() if of == model]
    best = trials["best"].get(model, numbers[0])
    best = best if best in numbers else numbers[0]
    default = wanted if wanted in numbers else best

    def label(number: int) -> str:
        value = trials["completed"][number][1]
        shown = "—" if value is None else f"{value:.4f}"
        notes = [" · best" if number == best else "", "" if number in trials["diagnosed"] else " · not diagnosed yet"]
        return f"trial {number} · {study.metric} {shown}" + "".join(notes)

    trial = right.selectbox("Trial", numbers, index=numbers.index(default), format_func=label,
                            key=f"diagnostics_trial_{study.id}_{model}",
                            help="the model's completed trials, best first; the best ones are diagnosed as they "
                                 "finish, the others here and now when first opened (seconds to minutes)")
    st.query_params[common.TRIAL_PARAM] = str(trial)
    return trial


def compute_trial(store: Store, study: StudyRow, number: int, again: bool = False) -> TrialDiagnostics | None:
    """The trial's diagnostics computed now, in this process, each step shown as it begins (with a bar of
    ``TRIAL_STEPS``); None, the reason shown, when they cannot be."""
    started = time.perf_counter()
    with st.status(f"Computing the diagnostics of trial {number} now (once: the result is kept)…",
                   expanded=True) as status:
        bar = st.progress(0.0)
        steps: list[str] = []

        def step(words: str) -> None:
            steps.append(words)
            bar.progress((len(steps) - 1) / TRIAL_STEPS, text=f"step {len(steps)} of {TRIAL_STEPS}: {words}…")
            st.write(f"{time.perf_counter() - started:.1f} s · {words}…")

        try:
            result = trial_view(store, study, common.home(), number, again=again, progress=step)
        except CrossBoardError as error:
            status.update(label=f"Trial {number}: no diagnostics", state="error")
            st.error(common.plain(error))
            return None
        except Exception as error:  # noqa: BLE001 - a fault of one trial's diagnostics is shown, not raised
            status.update(label=f"Trial {number}: the diagnostics failed", state="error")
            st.error(f"The diagnostics of trial {number} failed: {type(error).__name__}: {common.plain(error)}")
            return None
        seconds = time.perf_counter() - started
        bar.progress(1.0, text=f"done in {seconds:.1f} s")
        status.update(label=f"Diagnostics of trial {number} computed in {seconds:.1f} s", state="complete",
                      expanded=False)
    return result


def trial_panel(store: Store, study: StudyRow, number: int, version: tuple) -> None:
    """The trial's diagnostics, computed now when none are kept. Its charts are one container; a computation's
    progress (a status block) or a failure stands where that container stood, and the browser drops a block
    replaced by one of another kind at once: another trial's charts never wait, faded, beside this one's
    progress (a block of the same kind would keep them until the run ends)."""
    stored = cached_kept(store.url, study.id, version, number)
    if stored is None:
        result = compute_trial(store, study, number)
    else:
        try:
            result = kept_diagnostics(stored)
        except DiagnosticsFailed as failed:
            failed_panel(store, study, number, failed.failure)
            return
    if result is not None:
        with st.container():
            trial_charts(result, number)


def failed_panel(store: Store, study: StudyRow, number: int, failure: DiagnosticsFailure) -> None:
    st.error(f"The diagnostics of trial {number} ({failure.get('model', '?')}) failed: "
             f"{common.plain(failure['error'])}")
    again = st.button("Compute again", key=f"diagnostics_again_{study.id}_{number}",
                      help="compute this trial's diagnostics anew (its stored weights, or a refit with its seed)")
    if again and compute_trial(store, study, number, again=True) is not None:
        st.rerun()          # the new result is stored: show it without the old error


def trial_views(result: TrialDiagnostics) -> list[str]:
    """The trial view's tabs: pairs and fields always, then what the model has (its own pair measure, history
    attention, wide and deep parts)."""
    views = [PAIRS_VIEW, FIELDS_VIEW]
    views += [OWN_VIEW] if result["intrinsic"] else []
    views += [ATTENTION_VIEW] if result.get("attention") else []
    return views + ([SHARE_VIEW] if "share" in result else [])


def trial_charts(result: TrialDiagnostics, number: int) -> None:
    """The trial's pairs, fields, the model's own views, history attention and wide/deep share, one tab at a
    time (only the open tab is drawn)."""
    st.caption(f"trial {number} ({result['model']}) · {result.get('rows', 0):,} validation rows · computed in "
               f"{result.get('seconds', 0.0):.1f} s · pairs among the {result.get('pair_fields', '?')} most "
               f"important of {result.get('of_fields', '?')} fields")
    views = trial_views(result)
    tabs = st.tabs(views, key="diagnostics_trial_tab", on_change="rerun")
    for name, tab in zip(views, tabs, strict=True):
        if tab.open:
            with tab:
                TRIAL_VIEWS[name](result)


def pairs_view(result: TrialDiagnostics) -> None:
    pairs = result["pairs"]
    if not pairs:
        st.info("The trial has fewer than two fields, so no pairs.")
        return
    folded = result.get("folded")
    drawn_side_by_side(
        trial_pair_charts(pairs, folded["folded"] if folded else None, [f["field"] for f in result["fields"]]),
        [0.55, 0.45],
        "Each cell of the map: the share of the model's output variance that the two fields carry only "
        "together (0 = additive), darker = stronger. Bars: the strongest pairs' shares (ArchDetect mixed difference)"
        + (", a pair seen through a field that determines another folded under it (hover: also seen as)"
           if folded else "") + "; whisker: ±2 standard errors over repeated draws of rows. Hover for the figures.")
    if folded and folded["not_interactions"]:
        st.caption("Not interactions (a field paired with one it determines): " + "; ".join(
            f"{common.plain(pair_name(p['fields']))} ({common.plain(p['reason'])})"
            for p in folded["not_interactions"]) + ".")
    every = st.expander("All pairs", key=f"diagnostics_all_pairs_{result['model']}", on_change="rerun")
    if every.open:
        every.dataframe(all_pairs_table(pairs, folded), hide_index=True, width="stretch")


def fields_view(result: TrialDiagnostics) -> None:
    chart(importance_bars(result["fields"], result["metric"]),
          f"Bar: how much validation {result['metric']} drops when the field's values are shuffled across rows "
          "(0 or below: the model does not use it); whisker: ±2 standard errors over the shuffles.",
          key="trial_importance")


def share_view(result: TrialDiagnostics) -> None:
    share = result["share"]
    chart(share_chart(share),
          "Bar: the share of the logit's variance from each part (the two add up to 100%); correlation "
          f"between them {share['correlation']:+.2f} (near 0: they explain different things).",
          key="trial_share")


def all_pairs_table(pairs: list[dict], folded: dict | None) -> pd.DataFrame:
    """Every measured pair; with the dependencies, its strength once the determined fields are held fixed and
    the pair it is a shadow of."""
    shadows = {frozenset(s["fields"]): s for s in (folded or {}).get("shadows", [])}
    rows = []
    for p in pairs:
        row = {"pair": pair_name(p["fields"]), "strength": p["strength"], "low": p["low"], "high": p["high"]}
        shadow = shadows.get(frozenset(p["fields"]))
        if folded is not None:
            row["conditioned"] = shadow["conditioned"]["strength"] if shadow else None
            row["shadow of"] = pair_name(shadow["source"]) if shadow and shadow["source"] else ""
        rows.append(row)
    return pd.DataFrame(rows)


def own_view(result: dict) -> None:
    intrinsic, agreement = result["intrinsic"], result["agreement"]
    tabs = st.tabs(list(intrinsic), key=f"diagnostics_own_tab_{result['model']}", on_change="rerun")
    importance_order = [f["field"] for f in result["fields"]]      # the same axes as the agnostic map
    for tab, (method, own) in zip(tabs, intrinsic.items(), strict=True):
        if not tab.open:        # only the open tab is drawn: each chart costs the browser a fifth of a second
            continue
        with tab:
            rho = agreement.get(method)
            st.markdown(f"**{method}**: {OWN_VIEWS.get(method, 'the model’s own pair measure')}. "
                        "Agreement with the pairs above (Spearman's ρ over the pairs both rank): "
                        f"**{'—' if rho is None else f'{rho:+.2f}'}**")
            names = field_order(own, importance_order)
            st.markdown(pair_map(pair_matrix(own, names), names, method, title=f"{method} pair map", size=420),
                        unsafe_allow_html=True)
            st.caption("Each cell: the model's own strength for the pair, on its own scale (only the ranking compares "
                       "with the map above; ρ near 1: the same pairs). Darker = stronger.")


def attention_view(result: TrialDiagnostics) -> None:
    attention = result["attention"]
    left, right = st.columns(2)
    with left:
        chart(recency_chart(attention["by_recency"]),
              "Bar: the mean weight of the step that many steps back, over the uniform weight (1 = the dotted "
              "line: no preference; above 1: favoured).", key="trial_recency")
    if attention["by_attribute"]:
        with right:
            chart(attribute_chart(attention["by_attribute"]),
                  "Bars: the mean weight (over the uniform weight) of the steps that share the candidate's "
                  "attribute and of the others; red above grey: the model looks at similar past items.",
                  key="trial_attribute")
    if attention.get("examples"):
        chart(example_strip(attention["examples"]),
              "Each row: one validation row's history, oldest step left, newest right; darker = more weight; "
              "● = the step shares the candidate's attribute.", key="trial_examples")


PAIRS_VIEW, FIELDS_VIEW, OWN_VIEW, ATTENTION_VIEW, SHARE_VIEW = (
    "Field pairs", "Fields", "The model's own view of the pairs", "Attention over the history", "Wide and deep parts")
TRIAL_VIEWS = {PAIRS_VIEW: pairs_view, FIELDS_VIEW: fields_view, OWN_VIEW: own_view,
               ATTENTION_VIEW: attention_view, SHARE_VIEW: share_view}


# -- the page -------------------------------------------------------------------------------------

def forget_trial() -> None:
    """Another study picked here: the trial in the URL is one of the study shown before."""
    st.query_params.pop(common.TRIAL_PARAM, None)


def main() -> None:
    st.title("Diagnostics")
    store = common.store()
    study = common.select_study(store, key="diagnostics_select", on_change=forget_trial)
    if study is None:
        common.no_studies_yet()
        return
    version = store.study_version(study.id)
    trials = cached_trials(store.url, study.id, version)
    if not trials["completed"]:
        st.info(f"No trial of **{common.plain(study.name)}** has completed yet ({study.status}): the diagnostics appear with "
                "the first completed trials.")
        st.page_link(common.PAGES["study"], label="Study progress", icon=":material/monitoring:",
                     query_params={common.STUDY_PARAM: str(study.id)})
        return
    view = st.radio("View", VIEWS, index=1 if query_trial() is not None else 0, horizontal=True,
                    key=f"diagnostics_view_{study.id}",
                    help="Study: what the trials say together; One trial: what one trained model uses")
    if view == VIEWS[0]:
        st.query_params.pop(common.TRIAL_PARAM, None)
        study_view(store, study, version)
    else:
        trial_panel(store, study, pick_trial(study, trials), version)


if __name__ == "__main__":
    main()
