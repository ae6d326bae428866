"""New study: pick a dataset, a metric and a budget, then the models (the recommended set for the budget is
ticked, ``automl.search.recommended``), and launch the workers."""

from __future__ import annotations

from dataclasses import asdict

import streamlit as st

from automl.data.datasets import schema_of
from automl.data.schema import METRICS
from automl.online.stream import DEFAULT_MODES, DEFAULT_WINDOWS, SHARED_MODES, OnlineSettings
from automl.search.allocation import MIN_TRIALS
from automl.search.capabilities import model_availability, schema_inputs
from automl.search.config import PRUNERS, StudyConfig
from automl.search.recommended import MIN_SHARE_S, Recommendation, fair_share_s, recommend
from models import REGISTRY
from ui import common

# the budget fields' defaults (0 = no limit): a first study bounded in time, which the recommended models fit
DEFAULTS = {"trials": StudyConfig.n_trials, "minutes": 12.0, "epochs": StudyConfig.max_epochs,
            "workers": StudyConfig.workers, "pruner": StudyConfig.pruner, "trial_minutes": 0.0,
            "seeds": StudyConfig.seeds}
BY_HAND = "models_by_hand"      # "<dataset id>:<task>" whose model ticks the user set; elsewhere they follow the
                                # recommendation
# the online window's field per unit: whole rows, or hours shown without trailing zeros
WINDOW_FIELDS = {"rows": {"min_value": 0, "max_value": 10**9, "step": 1000},
                 "hours": {"min_value": 0.0, "max_value": 1e6, "step": 1.0, "format": "%g"}}


@st.cache_resource(show_spinner=False)
def device_found() -> str:
    from automl.training.device import describe, pick_device

    return describe(pick_device())


def model_key(name: str) -> str:
    return f"model_{name}"


def set_models(names, by_hand: str | None) -> None:
    """Tick ``names`` only; ``by_hand``: the scope in which the ticks are the user's from now on (None: they
    follow the recommendation again)."""
    for name in REGISTRY:
        st.session_state[model_key(name)] = name in names
    st.session_state[BY_HAND] = by_hand


def mark_by_hand(scope: str) -> None:
    st.session_state[BY_HAND] = scope


def budget_words(config: StudyConfig) -> str:
    """"a 12-minute budget on 1 worker", "20 trials within 12 minutes on 2 workers", "20 trials"."""
    workers = f"{config.workers} worker{'s' * (config.workers != 1)}"
    if config.minutes and config.n_trials:
        return f"{config.n_trials} trials within {config.minutes:g} minutes on {workers}"
    if config.minutes:
        return f"a {config.minutes:g}-minute budget on {workers}"
    return f"{config.n_trials} trials" if config.n_trials else "an unlimited budget"


def recommendation_text(recommendation: Recommendation, config: StudyConfig) -> str:
    """Why these models are ticked: the budget, each one's fair start, the models left out."""
    if not recommendation.models:
        return "No model can run on this dataset for this task."
    text = f"Recommended for {budget_words(config)}: **{', '.join(recommendation.models)}**"
    if recommendation.share_s is not None:
        text += f", each model's first {MIN_TRIALS} trials given about {recommendation.share_s:.0f} s of training"
    rest = recommendation.candidates[len(recommendation.models):]
    if rest:
        text += (f". {len(rest)} more fit the task ({', '.join(rest)}): raise the minutes or workers to give them "
                 "a fair start too, or tick them yourself")
    if recommendation.online_only:
        text += (f". {', '.join(recommendation.online_only)}: recommended for an online study, which replays its "
                 "own mode")
    return text + "."


def choose_models(availability: dict[str, str | None], recommendation: Recommendation, config: StudyConfig,
                  scope: str) -> list[str]:
    """The model checkboxes by family; until the user ticks one in ``scope`` (this dataset and task) they
    show ``recommendation``."""
    available = [m for m, why in availability.items() if why is None]
    follow = st.session_state.get(BY_HAND) != scope
    st.subheader("Models")
    st.caption(recommendation_text(recommendation, config))
    buttons = st.container(horizontal=True)
    buttons.button("Recommended", on_click=set_models, args=(recommendation.models, None), key="models_recommended",
                   help="the recommended set above, which follows the budget until you tick a model yourself")
    buttons.button("All", on_click=set_models, args=(available, scope), key="models_all")
    buttons.button("None", on_click=set_models, args=((), scope), key="models_none")
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
            elif follow:
                st.session_state[key] = card.name in recommendation.models
            options = ", ".join(card.key_options) or "—"
            picked = column.checkbox(card.name, key=key, disabled=why is not None, on_change=mark_by_hand,
                                     args=(scope,), help=f"{card.title}. Searches: {options}")
            if why is not None:
                column.caption(f":warning: unavailable: {why}")
            elif picked:
                chosen.append(card.name)
    return chosen


def budget_config(values: dict) -> StudyConfig:
    """The settings of the budget fields (``DEFAULTS``' keys; 0 = no limit), without models."""
    return StudyConfig(models=[], n_trials=int(values["trials"]) or None, minutes=float(values["minutes"]) or None,
                       workers=int(values["workers"]), max_epochs=int(values["epochs"]), pruner=values["pruner"],
                       trial_minutes=float(values["trial_minutes"]) or None, seeds=int(values["seeds"]))


def budget() -> StudyConfig:
    st.subheader("Budget")
    for field, value in DEFAULTS.items():  # the keyed fields take their defaults from session state
        st.session_state.setdefault(f"study_{field}", value)
    cols = st.columns(7)
    values = {
        "trials": cols[0].number_input("Trials (0 = no limit)", 0, 10_000, key="study_trials"),
        "minutes": cols[1].number_input("Minutes (0 = no limit)", 0.0, 10_000.0, step=5.0, key="study_minutes"),
        "workers": cols[2].number_input(f"Workers (1–{common.MAX_WORKERS})", 1, common.MAX_WORKERS,
                                        key="study_workers"),
        "epochs": cols[3].number_input("Max epochs per trial", 1, 500, key="study_epochs"),
        "trial_minutes": cols[4].number_input(
            "Minutes per trial (0 = from the budget)", 0.0, 1_000.0, step=1.0, key="study_trial_minutes",
            help="a trial's training ends when it has run this long, inside an epoch if need be; 0: two fair "
                 "shares of the minutes, or no cap"),
        "seeds": cols[5].number_input("Extra seeds", 0, 10, key="study_seeds",
                                      help="at the end, the best trial of every model the test cannot tell apart "
                                           "from the leader runs again with this many seeds; the verdict compares "
                                           "them over seeds"),
        "pruner": cols[6].selectbox("Pruner", PRUNERS, key="study_pruner",
                                    help="a trial is compared only with earlier trials of its own model"),
    }
    return budget_config(values)


OWN_MODES_HELP = "a model with an online mode of its own runs it too when it is chosen: " + ", ".join(
    f"{card.name} ({card.online_mode})" for card in REGISTRY.values() if card.online_mode)


def online_offered(schema, task: str) -> bool:
    """Whether the online option is offered: a ctr log with a timestamp."""
    return task == "ctr" and bool(schema.names("timestamp"))


def own_modes(schema, models: list[str]) -> None:
    """The online modes of their own that the chosen ``models`` add, and why one cannot run."""
    have = schema_inputs(schema)
    for card in (REGISTRY[m] for m in models if REGISTRY[m].online_mode):
        why = card.online_unavailable_reason(have)
        st.caption(f":warning: {why}" if why else
                   f"Also replayed: **{card.online_mode}**, {card.name}'s own mode, because {card.name} is chosen.")


def online_settings(schema, task: str, models: list[str]) -> dict | None:
    """The online option (a time-stamped ctr log): None unless it is chosen."""
    if not online_offered(schema, task):
        return None
    st.subheader("Online (time order)")
    if not st.toggle("Replay the log in time order", key="study_online",
                     help="tune every model on the oldest rows, then score each later window before its labels are "
                          "revealed and let each mode learn from it: static, incremental, retrain (and DRN's own)"):
        return None
    cols = st.columns(3)
    initial = cols[0].slider("Initial share (offline)", 0.05, 0.9, OnlineSettings.initial, step=0.05,
                             key="study_online_initial")
    unit = cols[1].radio("Windows by", list(WINDOW_FIELDS), horizontal=True, key="study_online_unit")
    size = cols[2].number_input(f"Window ({unit}; 0 = {DEFAULT_WINDOWS} equal windows)", **WINDOW_FIELDS[unit],
                                key=f"study_online_{unit}")
    modes = st.multiselect("Modes (every model)", list(SHARED_MODES), default=list(DEFAULT_MODES),
                           key="study_online_modes", help=OWN_MODES_HELP)
    own_modes(schema, models)
    rows, hours = (int(size) or None, None) if unit == "rows" else (None, float(size) or None)
    return asdict(OnlineSettings(initial=initial, window_rows=rows, window_hours=hours, modes=tuple(modes)))


def fairness_warnings(config: StudyConfig) -> None:
    """Warn when the chosen models are more than the budget gives its fair start (trials, then time)."""
    models = config.models
    if models and config.n_trials and config.n_trials < MIN_TRIALS * len(models):
        st.warning(f"{config.n_trials} trials for {len(models)} models: each model gets "
                   f"{config.n_trials // len(models)} or {config.n_trials // len(models) + 1} (its paper default "
                   f"first), fewer than the {MIN_TRIALS} a fair comparison gives every model. Raise the trials "
                   f"to {MIN_TRIALS * len(models)} or pick fewer models.")
    share = fair_share_s(config, models) if models and config.trial_minutes is None else None
    if share is not None and share < MIN_SHARE_S and len(models) > 1:
        st.warning(f"With {budget_words(config)}, each of the {len(models)} models' first {MIN_TRIALS} trials gets "
                   f"about {share:.0f} s of training, less than the {MIN_SHARE_S:.0f} s of a fair start: raise the "
                   "minutes or workers, or pick fewer models (the recommended ones fit).")


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
    config = budget()
    # the online toggle (below the models) as last set: an online study's replays take part of the minutes
    config.online = asdict(OnlineSettings()) if online_offered(schema, task) and st.session_state.get(
        "study_online") else None
    availability = model_availability(schema, task)
    config.models = choose_models(availability, recommend(availability, config), config, f"{dataset.id}:{task}")
    config.online = online_settings(schema, task, config.models)
    fairness_warnings(config)
    st.caption(f"Device: **{device_found()}** · each model's paper configuration is tried first, "
               "then Optuna's TPE sampler searches its options.")
    name = st.text_input("Study name (optional)", key="study_name", placeholder=f"{dataset.name}-<date>-<time>")
    if st.button("Launch", type="primary", key="study_launch", disabled=not config.models):
        with common.user_errors():
            common.launch_study(store, dataset, config, task=task, metric=metric, name=name.strip() or None)
    if not config.models:
        st.caption("Pick at least one model to launch.")


if __name__ == "__main__":
    main()
