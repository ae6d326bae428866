"""New study: pick a dataset, a metric, the models and a budget, then launch the workers."""

from __future__ import annotations

from dataclasses import asdict

import streamlit as st

from automl.data.datasets import schema_of
from automl.data.schema import METRICS
from automl.online.stream import DEFAULT_MODES, DEFAULT_WINDOWS, SHARED_MODES, OnlineSettings
from automl.search.allocation import MIN_TRIALS
from automl.search.capabilities import model_availability
from automl.search.config import PRUNERS, StudyConfig
from models import REGISTRY
from ui import common

DEFAULTS = {"trials": StudyConfig.n_trials, "minutes": 0.0, "epochs": StudyConfig.max_epochs,
            "workers": StudyConfig.workers, "pruner": StudyConfig.pruner, "trial_minutes": 0.0,
            "seeds": StudyConfig.seeds}
QUICK_MODELS = ("lr", "fm", "gbdt", "deepfm")
# the demo preset: the fair minimum of trials per model, early stopping (not an epoch cap) ending each
# model's training within a one-minute budget (so a trial may train 10 s), no reruns
QUICK = {**DEFAULTS, "trials": MIN_TRIALS * len(QUICK_MODELS), "minutes": 1.0, "epochs": 50, "seeds": 0}


@st.cache_resource(show_spinner=False)
def device_found() -> str:
    from automl.training.device import describe, pick_device

    return describe(pick_device())


def model_key(name: str) -> str:
    return f"model_{name}"


def set_models(names) -> None:
    for name in REGISTRY:
        st.session_state[model_key(name)] = name in names


def quick_preset(available: list[str]) -> None:
    """The demo preset: a few fast models, their fair minimum of trials, a one-minute budget."""
    set_models([m for m in QUICK_MODELS if m in available])
    for field, value in QUICK.items():
        st.session_state[f"study_{field}"] = value


def choose_models(availability: dict[str, str | None]) -> list[str]:
    available = [m for m, why in availability.items() if why is None]
    st.subheader("Models")
    buttons = st.container(horizontal=True)
    buttons.button("All", on_click=set_models, args=(available,), key="models_all")
    buttons.button("None", on_click=set_models, args=((),), key="models_none")
    buttons.button("Quick study", on_click=quick_preset, args=(available,), key="models_quick",
                      help=f"{', '.join(QUICK_MODELS)}; {QUICK['trials']} trials within {QUICK['minutes']:g} minute, "
                           "early stopping")
    families: dict[str, list] = {}
    for card in REGISTRY.values():
        families.setdefault(card.family, []).append(card)
    columns = st.columns(len(families))
    chosen = []
    for column, (family, cards) in zip(columns, families.items()):
        column.markdown(f"**{family}**")
        for card in cards:
            why = availability.get(card.name)
            key = model_key(card.name)
            if why is not None:
                st.session_state[key] = False
            elif key not in st.session_state:
                st.session_state[key] = True
            options = ", ".join(card.key_options) or "—"
            picked = column.checkbox(card.name, key=key, disabled=why is not None,
                                     help=f"{card.title}. Searches: {options}")
            if why is not None:
                column.caption(f":warning: unavailable: {why}")
            elif picked:
                chosen.append(card.name)
    return chosen


def budget() -> StudyConfig:
    st.subheader("Budget")
    for field, value in DEFAULTS.items():  # defaults through session state, so the preset can set them
        st.session_state.setdefault(f"study_{field}", value)
    cols = st.columns(7)
    trials = cols[0].number_input("Trials (0 = no limit)", 0, 10_000, key="study_trials")
    minutes = cols[1].number_input("Minutes (0 = no limit)", 0.0, 10_000.0, step=5.0, key="study_minutes")
    workers = cols[2].number_input(f"Workers (1–{common.MAX_WORKERS})", 1, common.MAX_WORKERS, key="study_workers")
    epochs = cols[3].number_input("Max epochs per trial", 1, 500, key="study_epochs")
    trial_minutes = cols[4].number_input("Minutes per trial (0 = from the budget)", 0.0, 1_000.0, step=1.0,
                                         key="study_trial_minutes",
                                         help="a trial's training ends when it has run this long, inside an epoch "
                                              "if need be; 0: two fair shares of the minutes, or no cap")
    seeds = cols[5].number_input("Extra seeds", 0, 10, key="study_seeds",
                                 help="at the end, the best trial of every model the test cannot tell apart from "
                                      "the leader runs again with this many seeds; the verdict compares them "
                                      "over seeds")
    pruner = cols[6].selectbox("Pruner", PRUNERS, key="study_pruner",
                               help="a trial is compared only with earlier trials of its own model")
    return StudyConfig(models=[], n_trials=int(trials) or None, minutes=float(minutes) or None,
                       workers=int(workers), max_epochs=int(epochs), pruner=pruner,
                       trial_minutes=float(trial_minutes) or None, seeds=int(seeds))


OWN_MODES_HELP = "a model with an online mode of its own runs it too when it is chosen: " + ", ".join(
    f"{card.name} ({card.online_mode})" for card in REGISTRY.values() if card.online_mode)


def online_settings(schema, task: str) -> dict | None:
    """The online option (a time-stamped ctr log): None unless it is chosen."""
    if task != "ctr" or not schema.names("timestamp"):
        return None
    st.subheader("Online (time order)")
    if not st.toggle("Replay the log in time order", key="study_online",
                     help="tune every model on the oldest rows, then score each later window before its labels are "
                          "revealed and let each mode learn from it: static, incremental, retrain (and DRN's own)"):
        return None
    cols = st.columns(4)
    initial = cols[0].slider("Initial share (offline)", 0.05, 0.9, OnlineSettings.initial, step=0.05,
                             key="study_online_initial")
    unit = cols[1].radio("Windows by", ["rows", "hours"], horizontal=True, key="study_online_unit")
    size = cols[2].number_input(f"Window ({unit}; 0 = {DEFAULT_WINDOWS} equal windows)", 0.0, 1e9, 0.0,
                                key="study_online_size")
    modes = cols[3].multiselect("Modes", list(SHARED_MODES), default=list(DEFAULT_MODES),
                                key="study_online_modes", help=OWN_MODES_HELP)
    rows, hours = (int(size) or None, None) if unit == "rows" else (None, float(size) or None)
    return asdict(OnlineSettings(initial=initial, window_rows=rows, window_hours=hours, modes=tuple(modes)))


def main() -> None:
    st.title("New study")
    store = common.store()
    rows = store.datasets()
    if not rows:
        st.info("No dataset yet: upload one on the **Data** page.")
        st.page_link(common.PAGES["data"], label="Data", icon=":material/table_view:")
        return
    by_id = {row.id: row for row in rows}
    dataset = by_id[st.selectbox("Dataset", list(by_id), key="study_dataset",
                                 format_func=lambda i: f"{by_id[i].name} ({by_id[i].n_rows:,} rows)")]
    schema = schema_of(dataset)
    left, right = st.columns(2)
    tasks = [schema.task] + (["implicit"] if schema.task != "implicit" and schema.names("user")
                             and schema.names("item") else [])
    task = left.selectbox("Task", tasks, key=f"study_task_{dataset.id}",
                          help="implicit: rank items for each user (leave-one-out, HR@10, NDCG@10); on a "
                               "ctr table its clicks are the positives, on a rating table every rating")
    left.caption(f"label `{schema.label or '—'}` · {schema.task_reason} (change roles or the task on the Data page)")
    metric = right.selectbox("Metric (validation)", METRICS[task], key=f"study_metric_{task}")
    availability = model_availability(schema, task)
    models = choose_models(availability)
    config = budget()
    config.models = models
    config.online = online_settings(schema, task)
    if models and config.n_trials and config.n_trials < MIN_TRIALS * len(models):
        st.warning(f"{config.n_trials} trials for {len(models)} models: each model gets "
                   f"{config.n_trials // len(models)} or {config.n_trials // len(models) + 1} (its paper default "
                   f"first), fewer than the {MIN_TRIALS} a fair comparison gives every model. Raise the trials "
                   f"to {MIN_TRIALS * len(models)} or pick fewer models.")
    st.caption(f"Device: **{device_found()}** · each model's paper configuration is tried first, "
               "then Optuna's TPE sampler searches its options.")
    name = st.text_input("Study name (optional)", key="study_name", placeholder=f"{dataset.name}-<date>-<time>")
    if st.button("Launch", type="primary", key="study_launch", disabled=not models):
        with common.user_errors():
            common.launch_study(store, dataset, config, task=task, metric=metric, name=name.strip() or None)
    if not models:
        st.caption("Pick at least one model to launch.")


if __name__ == "__main__":
    main()
