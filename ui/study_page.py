"""Study: what a study is doing now, polled from the database (survives a refresh)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from automl.reporting.progress import PhaseProgress, Progress, fmt_seconds, study_progress
from automl.search.allocation import ETA, MIN_TRIALS
from automl.search.budget import PHASE_WORDS, plan_words
from automl.search.config import StudyConfig
from automl.search.control import request_stop
from automl.search.liveness import ACTIVE, WAITING, alive, settle_study
from storage.tables import WorkerPhase, WorkerStatus
from ui import common

POLL_S = 2.0
STATUS_ICON = {"created": ":material/hourglass_top:", "running": ":material/directions_run:",
               "finished": ":material/check_circle:", "stopped": ":material/stop_circle:",
               "failed": ":material/error:", WAITING: ":material/pause_circle:"}


def settle_if_lost(store, study) -> None:
    """If a worker died (killed, out of memory, its machine gone), mark it lost and re-queue its
    trial so the study can end; if no worker ever joined, say why once the start deadline passed.
    Lost workers are looked for only once every launched worker has registered, so a slow start is
    not taken for a death."""
    workers, now = store.workers(study.id), store.db_now()
    config = StudyConfig.from_json(study.config_json)
    if not workers or (len(workers) >= config.workers and any(w.status in ACTIVE and not alive(w, now) for w in workers)):
        settle_study(store, study.id, home=common.home())


def progress_panel(study_id: int) -> None:
    store = common.store()
    common.reap_workers()
    study = store.find_study(study_id)
    if study.status in common.ACTIVE_STUDY:
        settle_if_lost(store, study)
    progress = study_progress(store, study)
    st.markdown(f"### {STATUS_ICON.get(progress.status, '')} {progress.status}")
    for phase in progress.phases:
        st.progress(phase_share(phase, progress), text=phase_text(phase, progress))
    cols = st.columns(4)
    cols[0].metric("Trials done", f"{progress.done}" + (f" / {progress.total}" if progress.total else ""))
    best = "—" if progress.best_value is None else f"{progress.best_value:.4f}"
    cols[1].metric(f"Best {study.metric}", best, help="best validation value so far")
    cols[1].caption(f"model: {progress.best_model or '—'}")
    cols[2].metric("Elapsed", fmt_seconds(progress.elapsed_s))
    cols[3].metric("ETA", fmt_seconds(progress.eta_s) if progress.eta_s is not None else "—")
    if progress.message:
        st.error(common.plain(progress.message))
    st.markdown("**Models**")
    st.dataframe(pd.DataFrame(progress.models), hide_index=True, width="stretch",
                 column_config={"best": st.column_config.NumberColumn(f"best {study.metric}", format="%.4f"),
                                "seconds": st.column_config.NumberColumn("compute s", format="%.1f"),
                                "planned": st.column_config.NumberColumn(
                                    "planned", help=f"trials in the model's current rung of the plan: every model "
                                                    f"gets {MIN_TRIALS} first, then the better 1/{ETA} of the "
                                                    f"models get {ETA}× as many")})
    st.markdown("**Running now**")
    if progress.running:
        st.dataframe(pd.DataFrame(progress.running), hide_index=True, width="stretch")
    elif progress.status in common.ACTIVE_STUDY:
        loading = any(w.status in (WorkerStatus.STARTING, WorkerStatus.LOADING) for w in progress.workers)
        st.caption("Workers are starting or loading the data…" if loading or not progress.workers
                   else "Workers are between steps…")
    else:
        st.caption("Nothing is running.")
    st.markdown("**Workers**")
    if progress.workers:
        st.dataframe(pd.DataFrame(progress.workers), hide_index=True, width="stretch")
        for worker in progress.workers:
            if worker.status in (WorkerStatus.FAILED, WorkerStatus.LOST) and worker.message:
                st.error(f"worker {worker.id} ({worker.status}): {common.plain(worker.message.splitlines()[0])}")
    else:
        st.caption("No worker has registered yet.")
    if st.session_state.get("study_was_active") and progress.status not in common.ACTIVE_STUDY:
        st.session_state["study_was_active"] = False
        st.rerun()  # the whole page: stop polling, offer the leaderboard


def phase_share(phase: PhaseProgress, progress: Progress) -> float:
    """How full a phase's bar is: done / total; a phase without a known total (a time-budgeted trials phase)
    stays empty while the study runs and full once it has ended."""
    if phase.total:
        return min(phase.done / phase.total, 1.0)
    return 1.0 if progress.status not in common.ACTIVE_STUDY else 0.0


def phase_text(phase: PhaseProgress, progress: Progress) -> str:
    """"seed reruns 2 of 6 · planned to end in 0:01:10": a phase's done / total, what runs in it now, its plan."""
    total = f" of {phase.total}" if phase.total is not None else ""
    now = [f"{a.model} (trial {a.trial})" for a in progress.running if a.phase == phase.phase and a.model]
    if phase.phase == WorkerPhase.ONLINE_REPLAYS and progress.online is not None:
        now = progress.online.running
    text = f"{PHASE_WORDS[phase.phase]} {phase.done}{total}" + (f" · now: {', '.join(now)}" if now else "")
    if progress.status in common.ACTIVE_STUDY and phase.planned_s is not None and not phase.finished:
        text += f" · planned to end in {fmt_seconds(phase.planned_s)}" if phase.planned_s else " · past its planned end"
    return text


def main() -> None:
    st.title("Study")
    store = common.store()
    study = common.select_study(store, key="study_select")
    if study is None:
        common.no_studies_yet()
        return
    config = StudyConfig.from_json(study.config_json)
    budget = " and ".join(filter(None, [f"{config.n_trials} trials" if config.n_trials else "",
                                        f"{config.minutes:g} minutes" if config.minutes else ""]))
    plan = f" ({plan_words(config)})" if config.minutes else ""
    st.caption(f"{study.task} · metric {study.metric} ({study.direction}) · models {', '.join(config.models)} · "
               f"budget {budget}{plan} · {config.workers} worker(s) · up to {config.max_epochs} epochs · "
               f"pruner {config.pruner}")
    active = study.status in common.ACTIVE_STUDY
    st.session_state["study_was_active"] = active
    st.fragment(progress_panel, run_every=POLL_S if active else None)(study.id)
    row = st.container(horizontal=True, vertical_alignment="center")
    if active:
        if study.stop_requested:
            row.caption("Stop requested: the workers end after their current trial, rerun or replay window.")
        elif row.button("Stop", key="study_stop", help="workers stop after their current trial, seed rerun or "
                                                         "online replay window"):
            request_stop(store, study)
            st.rerun()
    elif study.status == WAITING and row.button(
            f"Start {config.workers or 1} worker(s) here", key="study_resume",
            help="its budget is not spent and no worker runs it: start workers on this machine to go on"):
        with common.user_errors():
            common.resume_study(store, study, config.workers or 1)
            st.rerun()
    row.page_link(common.PAGES["leaderboard"], label="Leaderboard", icon=":material/leaderboard:",
                  query_params={common.STUDY_PARAM: str(study.id)})

if __name__ == "__main__":
    main()
