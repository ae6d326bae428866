"""The landing page, the app's default: what CrossBoard does, its four steps (each a link to its page), the
demo study one click away and the latest studies with the first sentence of their verdicts. It reads the
database only; the engine's heavier modules load when there is a study to show or the demo is launched."""

from __future__ import annotations

import streamlit as st

from automl.data.datasets import schema_of
from automl.data.demo import DEMO_NAME, ensure_demo
from automl.search.config import StudyConfig
from storage import Store
from storage.tables import StudyRow
from ui import common

PITCH = ("CrossBoard finds out which deep recommendation model wins on your own data: LR, FM, GBDT, DeepFM, "
         "DCN-V2, DIN and the rest of the zoo, each tuned by Optuna on the same split, with honest uncertainty (a "
         "95% interval on every test figure, and a leader group of the models the test cannot tell apart). "
         "It shows which feature interactions matter: the field pairs each model learned, and those the models "
         "agree on. Then you take the winner away: score a file, recommend items, or export it as ONNX with its "
         "encoder.")
# (title, what happens, links: (page, label, icon))
STEPS = (
    ("Upload data", "A CSV, TSV, Parquet or libFM table: one row per impression, click or rating.",
     (("data", "Data", ":material/table_view:"),)),
    ("Check roles", ("CrossBoard guesses each column's role (user, item, label, timestamp, …) and says why; "
                     "fix a guess, then save."),
     (("data", "Data", ":material/table_view:"),)),
    ("Launch a study", ("The models that fit your task and budget are ticked; each gets its paper default and "
                        "a fair share of the trials."),
     (("new_study", "New study", ":material/rocket_launch:"),)),
    ("Read the results", "The leaderboard's verdict, intervals and ensemble; the diagnostics' field pairs.",
     (("leaderboard", "Leaderboard", ":material/leaderboard:"), ("diagnostics", "Diagnostics", ":material/hub:"))),
)
DEMO_MINUTES = 5.0
DEMO_WORKERS = 2
RECENT_STUDIES = 5


def steps() -> None:
    st.subheader("Four steps")
    for number, (column, (title, text, links)) in enumerate(zip(st.columns(len(STEPS)), STEPS), start=1):
        box = column.container(border=True, height="stretch")
        box.markdown(f"**{number}. {title}**")
        box.caption(text)
        for page, label, icon in links:
            box.page_link(common.PAGES[page], label=label, icon=icon)


def launch_demo(store: Store) -> None:
    """Register the demo log if it is missing and launch a fair study on it: the recommended models for
    DEMO_MINUTES on up to DEMO_WORKERS workers. Raises CrossBoardError: call it inside ``user_errors()``."""
    # imported on the click, so that the page itself renders without the model zoo (torch)
    from automl.search.capabilities import model_availability
    from automl.search.recommended import recommend

    dataset = ensure_demo(store)
    schema = schema_of(dataset)
    config = StudyConfig(models=[], n_trials=None, minutes=DEMO_MINUTES,
                         workers=min(DEMO_WORKERS, common.MAX_WORKERS))
    config.models = list(recommend(model_availability(schema, schema.task), config).models)
    common.launch_study(store, dataset, config)


def demo() -> None:
    st.subheader("Try it on the demo data")
    st.caption(f"`{DEMO_NAME}` is a synthetic ad log with planted feature pairs and a history effect: a model that "
               f"crosses features should beat LR on it. One click launches a {DEMO_MINUTES:g}-minute study of the "
               "models recommended for that budget and opens its progress.")
    if st.button(f"Run the {DEMO_MINUTES:g}-minute demo study", type="primary", key="landing_demo",
                 icon=":material/play_arrow:"):
        with common.user_errors():
            launch_demo(common.store())


def verdict_line(store: Store, study: StudyRow) -> str:
    """The first sentence of the study's stored verdict, or "No verdict yet."."""
    # imported here: the comparison's statistics load only when there is a study to show
    from automl.reporting.verdict import verdict_sentences
    from automl.search.verdicts import stored

    comparison = stored(store, study.id)
    return verdict_sentences(comparison, {})[0] if comparison else "No verdict yet."


def recent_studies(store: Store) -> None:
    st.subheader("Recent studies")
    studies = store.studies()[:RECENT_STUDIES]
    if not studies:
        st.caption("None yet: the demo study above, or your own on the New study page.")
        return
    for study in studies:
        box = st.container(border=True)
        links = box.container(horizontal=True)
        links.page_link(common.PAGES["study"], label=common.plain(common.study_label(study)),
                        icon=":material/monitoring:", query_params={common.STUDY_PARAM: str(study.id)})
        links.page_link(common.PAGES["leaderboard"], label="Leaderboard", icon=":material/leaderboard:",
                        query_params={common.STUDY_PARAM: str(study.id)})
        box.caption(f"{study.status} · {study.task}, {study.metric}")
        box.markdown(common.plain(verdict_line(store, study)))


def main() -> None:
    st.title("CrossBoard")
    st.markdown(PITCH)
    steps()
    demo()
    recent_studies(common.store())


if __name__ == "__main__":
    main()
