"""Helpers shared by the pages: the Store, the data directory, page paths, study selection,
error display, the password gate, launching a study and the worker processes this server started."""

from __future__ import annotations

import hmac
import os
import re
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import streamlit as st

from automl.cli import PASSWORD_ENV
from automl.errors import CrossBoardError, SettingsError
from automl.search.config import StudyConfig
from storage import Store
from storage.db import default_home, resolve_url
from storage.tables import DatasetRow, StudyRow
from ui.gate import COOKIE, valid_token

# Page scripts, relative to app.py (st.switch_page and AppTest.switch_page take these paths).
PAGES = {
    "start": "ui/landing_page.py",
    "data": "ui/data_page.py",
    "new_study": "ui/new_study_page.py",
    "study": "ui/study_page.py",
    "leaderboard": "ui/leaderboard_page.py",
    "diagnostics": "ui/diagnostics_page.py",
}
# Markdown's special characters and the colon of "://", escaped by ``plain``; then where an autolink would start
# (after the escapes): "://", "@" before a domain, "www" before its dot
MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$&]|:(?=//))")
AUTOLINK_STARTS = re.compile(r"(?i)(:(?=//)|@(?=[a-z0-9])|\bwww(?=\\\.))")
MAX_WORKERS = os.cpu_count() or 1   # worker processes this server runs at once, over every tab and study
STUDY_PARAM = "study"
TRIAL_PARAM = "trial"        # the Diagnostics page's trial (?study=ID&trial=N)
ACTIVE_STUDY = ("created", "running")

# Worker processes started by this server process; polled so that finished ones are reaped.
_LAUNCHED: list[subprocess.Popen] = []


def home() -> Path:
    """The data directory ($CROSSBOARD_HOME or ~/.crossboard)."""
    return default_home()


@st.cache_resource(show_spinner=False)
def _store(url: str) -> Store:
    return Store(url)


def store() -> Store:
    """The Store for $CROSSBOARD_DB (or the SQLite file in the data directory), one per URL."""
    return _store(resolve_url())


def plain(text: object) -> str:
    """``text`` (a name or message that comes from the user or the data) escaped so that Markdown
    shows it as typed: no link, image, HTML or formatting; and no autolink (the renderer links
    ``www.``, ``scheme://`` and ``a@b.c`` in plain text, escaped or not), which an invisible word
    joiner inside each of those breaks."""
    return AUTOLINK_STARTS.sub("\\1\u2060", MARKDOWN_SPECIALS.sub(r"\\\1", str(text)))


@contextmanager
def user_errors():
    """Show a CrossBoardError as a plain message (never a traceback) and carry on."""
    try:
        yield
    except CrossBoardError as error:
        st.error(plain(error))


def remember_workers(procs: list[subprocess.Popen]) -> None:
    _LAUNCHED.extend(procs)


def reap_workers() -> None:
    """Collect the exit status of finished workers this server started (no zombies)."""
    for proc in list(_LAUNCHED):
        if proc.poll() is not None:
            _LAUNCHED.remove(proc)


def signed_in() -> bool:
    """True when the app has no password (``$CROSSBOARD_PASSWORD`` unset), the server's sign-in gate
    let this browser in (``ui.gate``: its session cookie), or this browser session has given the
    password here (the app run without the gate, e.g. ``streamlit run app.py``); otherwise shows the
    sign-in form and returns False (the caller shows nothing else)."""
    expected = os.environ.get(PASSWORD_ENV, "")
    if not expected or st.session_state.get("signed_in") or valid_token(st.context.cookies.get(COOKIE)):
        return True
    st.title("CrossBoard")
    with st.form("sign_in"):
        given = st.text_input("Password", type="password")
        if st.form_submit_button("Sign in"):
            if hmac.compare_digest(given.encode(), expected.encode()):
                st.session_state["signed_in"] = True
                st.rerun()
            time.sleep(1.0)         # slows guessing
            st.error("Wrong password.")
    return False


def launch_study(store: Store, dataset: DatasetRow, config: StudyConfig, *, task: str | None = None,
                 metric: str | None = None, name: str | None = None) -> None:
    """Create the study (``automl.search.study.create_study``), start its ``config.workers`` workers on
    this machine and open the Study page on it. Raises CrossBoardError on bad settings: call it
    inside ``user_errors()``."""
    # imported here, and launch_workers looked up at each call (the tests replace it)
    from automl.search import control
    from automl.search.study import create_study

    check_worker_room(config.workers)
    row = create_study(store, dataset, config, task=task, metric=metric, name=name)
    remember_workers(control.launch_workers(store.url, row.id, home(), config.workers))
    st.switch_page(PAGES["study"], query_params={STUDY_PARAM: str(row.id)})


def check_worker_room(workers: int) -> None:
    """SettingsError when ``workers`` more would pass this server's MAX_WORKERS."""
    reap_workers()
    if len(_LAUNCHED) + workers > MAX_WORKERS:
        raise SettingsError(f"this server already runs {len(_LAUNCHED)} of at most {MAX_WORKERS} workers (one per "
                            f"core); {workers} more would overload it. Lower the workers, or wait for a study "
                            "to finish (or stop one on the Study page) and launch again")


def resume_study(store: Store, study: StudyRow, workers: int) -> None:
    """Start ``workers`` workers on this machine for a study that waits for workers (its budget not spent)."""
    from automl.search import control

    check_worker_room(workers)
    remember_workers(control.launch_workers(store.url, study.id, home(), workers))


def study_label(study: StudyRow) -> str:
    # No status here: a keyed selectbox keeps showing the label it first rendered.
    return f"{study.name} · #{study.id}"


def select_study(store: Store, key: str, on_change=None) -> StudyRow | None:
    """A study picker: the one in the URL (?study=ID) if any, else the newest. The choice is
    written back to the URL so that a refresh keeps it; ``on_change`` runs when the user picks another."""
    studies = store.studies()
    if not studies:
        return None
    wanted = st.query_params.get(STUDY_PARAM)
    ids = [s.id for s in studies]
    index = ids.index(int(wanted)) if wanted and wanted.isdigit() and int(wanted) in ids else 0
    by_id = {s.id: s for s in studies}
    chosen = st.selectbox("Study", ids, index=index, key=key, format_func=lambda i: study_label(by_id[i]),
                          on_change=on_change)
    st.query_params[STUDY_PARAM] = str(chosen)
    return by_id[chosen]


def no_studies_yet() -> None:
    st.info("No study yet. Launch one on the **New study** page (the demo dataset is ready to use).")
    st.page_link(PAGES["new_study"], label="New study", icon=":material/rocket_launch:")
