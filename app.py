"""CrossBoard's Streamlit entry point: ``streamlit run app.py`` (or ``crossboard app``).

Start on the landing page (what CrossBoard does, its steps, the demo study, the latest verdicts), upload an
interaction table (Data), launch an Optuna study over the model zoo (New study),
watch it run (Study), compare the results (Leaderboard) and see which fields and field pairs
the models use (Diagnostics). Every page reads the database only, so a refresh or a second
browser tab shows the same state."""

from __future__ import annotations

import streamlit as st

from automl.data.demo import DEMO_NAME, ensure_demo
from automl.errors import CrossBoardError
from storage.db import resolve_url
from ui import common


@st.cache_resource(show_spinner="Registering the demo dataset…")
def demo_ready(url: str) -> str:
    """Register the bundled demo dataset once per database; returns '' or the reason it failed."""
    try:
        ensure_demo(common.store())
    except CrossBoardError as error:
        return str(error)
    return ""


def main() -> None:
    st.set_page_config(page_title="CrossBoard", page_icon=":material/leaderboard:", layout="wide")
    if not common.signed_in():
        return
    problem = demo_ready(resolve_url())
    if problem:
        st.warning(f"The demo dataset {DEMO_NAME!r} could not be registered: {problem}")
    page = st.navigation([
        st.Page(common.PAGES["start"], title="Start", icon=":material/home:", default=True),
        st.Page(common.PAGES["data"], title="Data", icon=":material/table_view:", url_path="data"),
        st.Page(common.PAGES["new_study"], title="New study", icon=":material/rocket_launch:",
                url_path="new-study"),
        st.Page(common.PAGES["study"], title="Study", icon=":material/monitoring:", url_path="study"),
        st.Page(common.PAGES["leaderboard"], title="Leaderboard", icon=":material/leaderboard:",
                url_path="leaderboard"),
        st.Page(common.PAGES["diagnostics"], title="Diagnostics", icon=":material/hub:", url_path="diagnostics"),
    ])
    st.sidebar.caption(f"Data in `{common.home()}`")
    page.run()


if __name__ == "__main__":
    main()
