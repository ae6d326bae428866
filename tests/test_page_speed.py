"""The Leaderboard and Diagnostics pages keep what they read and compute from the database until the study
changes (``Store.study_version``): another visit or a rerun reads it no more, and a change shows at the next
run. How fast they are is measured by ``benchmarks/page_times.py``, not here."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest
from study_helpers import study_with

import automl.reporting.leaderboard
from automl.evaluation.comparison import GROUP, LEADER, Comparison, Standing
from storage import Store
from storage.tables import ArtifactRow, TrialResultRow
from ui.common import PAGES

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture
def store(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'crossboard.db'}"
    monkeypatch.setenv("CROSSBOARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CROSSBOARD_DB", url)
    st.cache_data.clear()
    return Store(url)


def opened(study_id: int, page: str) -> AppTest:
    """``page`` of the study in a new session."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["study"] = str(study_id)
    at.run()
    at.switch_page(PAGES[page]).run()
    assert not at.exception, at.exception
    return at


def result(study_id: int, number: int, model: str, auc: float) -> TrialResultRow:
    return TrialResultRow(study_id=study_id, trial_number=number, model=model, state="COMPLETE", params_json="{}",
                          val_json=json.dumps({"auc": auc}), test_json=json.dumps({"auc": auc}))


def test_the_study_version_changes_with_each_write_the_pages_show(store):
    study = study_with(store, [("lr", 0.61, {}), ("fm", 0.63, {})])
    seen = [store.study_version(study.id)]

    def changed() -> bool:
        seen.append(store.study_version(study.id))
        return seen[-1] != seen[-2]

    assert not changed()
    store.save_result(result(study.id, 2, "lr", 0.62))
    assert changed()
    store.finish_trial(result(study.id, 3, "fm", 0.64), ArtifactRow(
        study_id=study.id, model="fm", trial_number=3, value=0.64, config_json="{}", weights=b"w", sha256="0" * 64),
        maximize=True)
    assert changed()
    store.save_diagnostics(study.id, 3, "fm", "{}")
    assert changed()
    store.save_diagnostics(study.id, 3, "fm", "{}")        # computed again
    assert changed()
    store.save_ensemble(study.id, "{}")
    assert changed()
    store.save_verdict(study.id, "{}")
    assert changed()
    store.claim_seed_run(study.id, "fm", 3, [1])
    assert not changed()                                   # a rerun still running: nothing a page shows yet
    store.finish_seed_run(study.id, 3, 1, state="done")
    assert changed()
    store.claim_online_run(study.id, "fm", "static", 3, None)
    assert changed()
    store.finish_online_run(study.id, "fm", "static", state="done")
    assert changed()
    store.update_study(study.id, status="finished")
    assert changed()
    assert not changed()


def test_the_leaderboard_reads_a_study_once_per_change(store, monkeypatch):
    study = study_with(store, [("lr", 0.61, {}), ("fm", 0.63, {})])
    reads = []
    read = automl.reporting.leaderboard.read_leaderboard
    monkeypatch.setattr(automl.reporting.leaderboard, "read_leaderboard",
                        lambda *args, **kwargs: reads.append(args) or read(*args, **kwargs))
    at = opened(study.id, "leaderboard")
    assert sorted(at.dataframe[0].value["trial"]) == [0, 1] and len(reads) == 1
    at.run()
    opened(study.id, "leaderboard")                         # another visit, in a new session
    assert len(reads) == 1
    store.save_result(result(study.id, 2, "lr", 0.65))
    at.run()
    assert not at.exception, at.exception
    assert sorted(at.dataframe[0].value["trial"]) == [1, 2] and len(reads) == 2     # lr's best is trial 2 now


def test_the_diagnostics_page_shows_diagnostics_kept_after_it_was_opened(store):
    study = study_with(store, [("lr", 0.61, {}), ("fm", 0.63, {})])
    at = opened(study.id, "diagnostics")
    assert any("No model's best trial has diagnostics yet" in i.value for i in at.info)
    for number, model in enumerate(("lr", "fm")):
        store.finish_trial(result(study.id, number, model, 0.6), ArtifactRow(
            study_id=study.id, model=model, trial_number=number, value=0.6, config_json="{}", weights=b"w",
            sha256="0" * 64), maximize=True)
        store.save_diagnostics(study.id, number, model, json.dumps({
            "trial": number, "model": model, "pairs": [{"fields": ["user_id", "item_id"], "strength": 0.3,
                                                        "low": 0.2, "high": 0.4}]}))
    at.session_state["consensus_every"] = True                      # "Every pair, as a table" opened
    at.run()
    assert not at.exception, at.exception
    (table,) = [d.value for d in at.dataframe if "models" in d.value]
    assert table["pair"].tolist() == ["item_id × user_id"] and table["models"].tolist() == [2]


def test_the_leaderboard_draws_only_its_open_tab_the_verdict_first(store):
    study = study_with(store, [("lr", 0.61, {}), ("fm", 0.63, {})])
    store.save_verdict(study.id, json.dumps(Comparison(
        "auc", "DeLong's paired test on the shared test rows", 100, 0.05, 0.05,
        [Standing("fm", 1, 1, {"auc": 0.63}, {"auc": [0.6, 0.66]}, LEADER),
         Standing("lr", 0, 1, {"auc": 0.61}, {"auc": [0.58, 0.64]}, GROUP, p_vs_leader=0.4)]).to_dict()))

    def titles(at) -> list[str]:
        """The titles of the Plotly charts and of the SVG charts drawn on the server."""
        layouts = [json.loads(c.proto.spec)["layout"] for c in at.get("plotly_chart")]
        return [t for layout in layouts for t in [layout.get("title", {}).get("text")]
                + [a["text"] for a in layout.get("annotations", [])]] + [
            re.search(r'aria-label="([^"]*)"', m.value).group(1) for m in at.markdown if m.value.startswith("<svg")]

    at = opened(study.id, "leaderboard")
    assert [t.label for t in at.tabs] == ["Best per model", "All trials", "Search history"]
    assert titles(at) == ["Test auc with 95% intervals"]                      # the verdict's chart only
    (svg,) = [m.value for m in at.markdown if m.value.startswith("<svg")]
    assert "fm: 0.6300 (95% interval 0.6000 – 0.6600), leader<" in svg and "lr: 0.6100 (95% interval" in svg
    assert "leader group" in at.tabs[0].dataframe[0].value["standing"].tolist()
    assert not at.tabs[1].dataframe and not at.tabs[2].get("plotly_chart")      # not drawn until opened
    at.session_state[f"leaderboard_tab_{study.id}"] = "Search history"
    at.run()
    assert not at.exception, at.exception
    shown = titles(at)
    assert "Optimization history" in shown and "Best validation auc per model" in shown
    assert "Test auc with 95% intervals" not in shown and not at.tabs[0].dataframe
    at.session_state[f"leaderboard_tab_{study.id}"] = "All trials"
    at.run()
    assert sorted(at.tabs[1].dataframe[0].value["model"]) == ["fm", "lr"] and not titles(at)


def test_the_leaderboard_reads_the_seed_reruns_figures_not_their_outputs(store):
    study = study_with(store, [("lr", 0.61, {}), ("fm", 0.63, {})])
    store.claim_seed_run(study.id, "fm", 1, [1])
    store.finish_seed_run(study.id, 1, 1, state="done", test_json=json.dumps({"auc": 0.62}), outputs=b"x" * 1000)
    (light,) = store.seed_runs(study.id, outputs=False)
    assert light.test_json == json.dumps({"auc": 0.62})
    with pytest.raises(Exception, match="outputs"):       # the blob was not read
        _ = light.outputs
    assert store.seed_runs(study.id)[0].outputs == b"x" * 1000
    board = automl.reporting.leaderboard.read_leaderboard(store, store.find_study(study.id))
    assert next(r for r in board.best if r["model"] == "fm")["seeds"] == 2
