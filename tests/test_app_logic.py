"""The app's page logic, run headless with streamlit.testing.v1.AppTest (nothing is rendered;
workers are not started: ``launch_workers`` is replaced where a study is launched)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from automl.data.demo import DEMO_NAME, demo_frame
from automl.data.schema import Schema
from automl.search.recommended import recommend
from models import REGISTRY
from storage import Store
from storage.tables import TrialResultRow
from ui.common import PAGES
from ui.new_study_page import DEFAULTS, budget_config

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 120


@pytest.fixture
def env(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'crossboard.db'}"
    monkeypatch.setenv("CROSSBOARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CROSSBOARD_DB", url)
    return url


def started(page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    if page:
        at.switch_page(PAGES[page]).run()
        assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "caption", "info", "warning", "error", "success", "title")
             for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def test_app_starts_on_the_landing_page_and_registers_the_demo(env):
    at = started()
    assert Store(env).find_dataset(DEMO_NAME) is not None
    assert [t.value for t in at.title] == ["CrossBoard"]
    assert [p.value for p in at.page_link] == ["Data", "Data", "New study", "Leaderboard", "Diagnostics"]
    assert "None yet" in texts(at)                                          # no study: no verdict to show
    at.switch_page(PAGES["data"]).run()
    assert [t.value for t in at.title] == ["Data"]
    assert DEMO_NAME in at.dataframe[-1].value["name"].tolist()


def test_the_demo_study_is_one_click_from_the_landing_page(env, monkeypatch):
    """The landing page's demo button launches a fair study of the recommended models on the demo log and
    opens the Study page; the landing page then lists the study with its status and verdict."""
    import automl.search.control
    from automl.data.datasets import schema_of
    from automl.search.capabilities import model_availability
    from automl.search.config import StudyConfig
    from automl.search.recommended import recommend

    launched = []
    monkeypatch.setattr(automl.search.control, "launch_workers", lambda *args: launched.append(args) or [])
    at = started()
    at.button(key="landing_demo").click().run()
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["Study"]
    store = Store(env)
    (study,) = store.studies()
    config = StudyConfig.from_json(study.config_json)
    demo = store.find_dataset(DEMO_NAME)
    assert study.dataset_id == demo.id and config.minutes == 5 and launched[0][3] == config.workers
    assert config.models == list(recommend(model_availability(schema_of(demo)), config).models)
    assert {"lr", "fm", "gbdt"} <= set(config.models)
    at.switch_page(PAGES["start"]).run()
    assert at.page_link[-2].value.endswith(f"#{study.id}") and "No verdict yet" in texts(at)


@pytest.mark.parametrize("page", ["study", "leaderboard"])
def test_pages_without_studies_say_so(env, page):
    at = started(page)
    assert "No study yet" in texts(at)


def test_new_study_lists_every_model_with_reasons(env, monkeypatch):
    import automl.search.capabilities

    real = automl.search.capabilities.model_availability

    seen = {}

    def with_one_unavailable(schema, task=None):
        seen.update(real(schema, task), afm="afm needs a behavior sequence column")
        return dict(seen)

    monkeypatch.setattr(automl.search.capabilities, "model_availability", with_one_unavailable)
    at = started("new_study")
    boxes = {box.label: box for box in at.checkbox}
    assert set(REGISTRY) <= set(boxes)
    assert boxes["afm"].disabled and not boxes["afm"].value
    assert "afm needs a behavior sequence column" in texts(at)
    ticked = recommend(seen, budget_config(DEFAULTS)).models          # the recommended set, not every model
    assert 1 < len(ticked) < len([m for m, why in seen.items() if why is None])
    assert f"Recommended for 20 trials within 12 minutes on 1 worker: **{', '.join(ticked)}**" in texts(at)
    for model, why in seen.items():
        assert boxes[model].disabled == (why is not None) and boxes[model].value == (model in ticked)
        assert why is None or why in texts(at)
    assert not at.warning                                                # the first click is a fair study


def test_the_ticked_models_follow_the_budget_until_the_user_picks(env):
    at = started("new_study")
    ticked = {box.label for box in at.checkbox if box.value}
    at.number_input(key="study_trials").set_value(0).run()
    at.number_input(key="study_minutes").set_value(60.0).run()          # more room: more models
    more = {box.label for box in at.checkbox if box.value}
    assert ticked < more and not at.warning
    at.checkbox(key="model_lr").uncheck().run()                         # the user's pick stays
    at.number_input(key="study_minutes").set_value(3.0).run()
    assert {box.label for box in at.checkbox if box.value} == more - {"lr"}
    assert any("less than the 30 s of a fair start" in w.value for w in at.warning)
    at.button(key="models_recommended").click().run()                   # back to the recommendation
    assert 0 < len([box for box in at.checkbox if box.value]) < len(ticked) and not at.warning


def test_upload_shows_roles_and_saves(env, tmp_path):
    at = started("data")
    csv = demo_frame(n_rows=300, n_users=20, n_items=15).rename(columns={"price": "<b>price'; --"})
    at.file_uploader[0].set_value(("clicks.csv", csv.to_csv(index=False).encode(), "text/csv")).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    roles = at.get("arrow_data_frame") or at.dataframe
    assert roles  # the preview and the roles table
    assert at.selectbox(key=next(s.key for s in at.selectbox if s.key.startswith("task_"))).value == "ctr"
    at.button(key="data_save").click().run()
    assert not at.exception, at.exception
    stored = Store(env).find_dataset("clicks")
    assert stored is not None and stored.n_rows == 300
    assert "Saved dataset" in texts(at)


def test_a_file_on_the_server_is_registered_by_path_and_read_in_blocks(env, tmp_path, monkeypatch):
    from automl.data import datasets

    monkeypatch.setattr(datasets, "IN_MEMORY_BYTES", 10_000)      # the file is past the in-memory limit
    shared = tmp_path / "shared"
    shared.mkdir()
    monkeypatch.setenv(datasets.DATA_DIRS_ENV, str(shared))
    demo_frame(n_rows=3000, n_users=50, n_items=40).to_csv(shared / "big.csv", index=False)
    (tmp_path / "private.csv").write_text("a,b\n1,2\n")
    at = started("data")
    at.radio(key="data_source").set_value("A file on the server").run()
    at.text_input(key="data_server_path").input(str(tmp_path / "private.csv")).run()
    assert not at.exception, at.exception
    assert "not in a folder this server shares" in "\n".join(e.value for e in at.error)
    at.text_input(key="data_server_path").input(str(shared / "big.csv")).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert "read in blocks" in texts(at)
    at.button(key="data_save").click().run()
    assert not at.exception, at.exception
    stored = Store(env).find_dataset("big")
    assert stored is not None and stored.n_rows == 3000
    assert (tmp_path / "home" / "datasets" / f"{stored.id}.parquet").exists()


def test_bad_upload_shows_an_error_and_stores_nothing(env):
    at = started("data")
    before = len(Store(env).datasets())
    at.file_uploader[0].set_value(("broken.csv", b"\x00\x01\x02garbage\xff\xfe" * 50, "text/csv")).run()
    assert not at.exception, at.exception
    assert at.error, "a bad file should be reported with st.error"
    assert len(Store(env).datasets()) == before


def test_launch_creates_the_study_and_the_pages_follow_it(env, monkeypatch):
    import automl.search.control

    launched = []
    monkeypatch.setattr(automl.search.control, "launch_workers", lambda *args: launched.append(args) or [])
    at = started("new_study")
    at.button(key="models_none").click().run()
    at.checkbox(key="model_lr").check()
    at.checkbox(key="model_fm").check()
    at.number_input(key="study_trials").set_value(3)
    at.number_input(key="study_epochs").set_value(2).run()
    at.button(key="study_launch").click().run()
    assert not at.exception, at.exception
    store = Store(env)
    (study,) = store.studies()
    assert json.loads(study.config_json)["models"] == ["lr", "fm"]
    assert launched and launched[0][1] == study.id
    assert at.query_params.get("study") == str(study.id)
    assert [t.value for t in at.title] == ["Study"]

    at.switch_page(PAGES["study"]).run()  # AppTest does not follow st.switch_page across runs
    at.button(key="study_stop").click().run()
    assert store.find_study(study.id).stop_requested

    for number, (model, auc) in enumerate([("lr", 0.70), ("fm", 0.74), ("lr", 0.72), ("gbdt", 0.73)]):
        store.save_result(TrialResultRow(
            study_id=study.id, trial_number=number, model=model, state="COMPLETE", params_json="{}",
            val_json=json.dumps({"auc": auc, "logloss": 0.5}), test_json=json.dumps({"auc": auc, "logloss": 0.5}),
            epochs=2, train_seconds=1.0, n_params=10))
    at.switch_page(PAGES["leaderboard"]).run()
    assert not at.exception, at.exception
    best = at.dataframe[0].value                                   # "Best per model", the tab opened first
    assert best["model"].tolist() == ["fm", "gbdt", "lr"]
    assert best["vs_gbdt"].tolist() == pytest.approx([0.01, 0.0, -0.01])
    assert "rank 2 of 3" in "\n".join(i.value for i in at.info)
    at.session_state[f"leaderboard_tab_{study.id}"] = "All trials"
    at.run()
    assert at.dataframe[0].value["model"].tolist() == ["fm", "gbdt", "lr", "lr"]


def test_a_headerless_ratings_tsv_is_named_saved_and_tuned_as_implicit(env, monkeypatch):
    import automl.search.control

    monkeypatch.setattr(automl.search.control, "launch_workers", lambda *args: [])
    rng = np.random.default_rng(0)
    lines = [f"{u}\t{i}\t{r}\t{881250949 + n}" for n, (u, i, r) in
             enumerate(zip(rng.integers(1, 40, 600), rng.integers(1, 60, 600), rng.integers(1, 6, 600), strict=True))]
    at = started("data")
    at.checkbox(key="data_headerless").check().run()
    at.text_input(key="data_names").input("user_id, item_id, rating, timestamp").run()
    at.file_uploader[0].set_value(("u.data", "\n".join(lines).encode(), "text/tab-separated-values")).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.selectbox(key=next(s.key for s in at.selectbox if s.key.startswith("task_"))).value == "rating"
    at.button(key="data_save").click().run()
    store = Store(env)
    dataset = store.find_dataset("u")
    assert dataset is not None and json.loads(dataset.schema_json)["task"] == "rating"

    at.switch_page(PAGES["new_study"]).run()
    at.selectbox(key="study_dataset").set_value(dataset.id).run()
    at.selectbox(key=f"study_task_{dataset.id}").set_value("implicit").run()
    assert at.selectbox(key="study_metric_implicit").options[:2] == ["ndcg@10", "hr@10"]
    at.button(key="models_none").click().run()
    at.checkbox(key="model_mf").check()
    at.checkbox(key="model_pop").check().run()
    at.button(key="study_launch").click().run()
    assert not at.exception, at.exception
    (study,) = store.studies()
    assert (study.task, study.metric) == ("implicit", "ndcg@10")
    assert set(json.loads(study.config_json)["models"]) == {"pop", "mf"}


def test_the_leaderboard_sets_the_ensemble_beside_the_best_single_model(env, monkeypatch):
    import automl.search.control

    monkeypatch.setattr(automl.search.control, "launch_workers", lambda *args: [])
    at = started("new_study")
    at.button(key="models_none").click().run()
    at.checkbox(key="model_lr").check()
    at.checkbox(key="model_fm").check().run()
    at.button(key="study_launch").click().run()
    store = Store(env)
    (study,) = store.studies()
    for number, (model, auc) in enumerate([("lr", 0.70), ("fm", 0.74)]):
        store.save_result(TrialResultRow(
            study_id=study.id, trial_number=number, model=model, state="COMPLETE", params_json="{}",
            val_json=json.dumps({"auc": auc, "logloss": 0.5}), test_json=json.dumps({"auc": auc, "logloss": 0.5}),
            epochs=2, train_seconds=1.0, n_params=10))
    store.save_ensemble(study.id, json.dumps({"weights": {"fm": 0.75, "lr": 0.25}, "trials": {"fm": 1, "lr": 0},
                                              "val": {"auc": 0.76, "logloss": 0.48},
                                              "test": {"auc": 0.755, "logloss": 0.49}, "rounds": 4}))
    at.switch_page(PAGES["leaderboard"]).run()
    assert not at.exception, at.exception
    shown = {m.label: m.value for m in at.metric}
    assert shown["Ensemble, test auc"] == "0.7550" and shown["Best single model (fm), test auc"] == "0.7400"
    assert "fm 75% (trial 1), lr 25% (trial 0)" in texts(at)


def test_names_from_the_user_and_the_data_are_shown_as_typed(env):
    """A dataset name and a column name with Markdown and HTML in them: no link, image or tag is
    rendered, every special character reaches the page escaped."""
    at = started("data")
    csv = demo_frame(n_rows=300, n_users=20, n_items=15).rename(columns={"price": "<b>price'; --"})
    at.file_uploader[0].set_value(("clicks.csv", csv.to_csv(index=False).encode(), "text/csv")).run()
    hostile = "[win](http://evil.example) ![x](http://evil.example/p.png) <img src=x>"
    at.text_input(key=next(t.key for t in at.text_input if t.key.startswith("name_"))).input(hostile)
    at.button(key="data_save").click().run()
    assert not at.exception, at.exception
    assert Store(env).find_dataset(hostile) is not None
    shown = texts(at)
    assert r"\[win\]\(http\:" + "\u2060" + r"//evil\.example\) \!\[x\]" in shown and r"\<img src=x\>" in shown
    assert "<b>price" not in shown and "](http" not in shown


def test_a_launch_past_the_servers_worker_cap_is_refused(env, monkeypatch):
    """Workers launched from every tab together stay within one per core: a launch that would
    pass the cap is refused with the reason, and no study is created."""
    import automl.search.control
    from ui import common

    class Running:
        def poll(self):
            return None

    monkeypatch.setattr(automl.search.control, "launch_workers", lambda *args: [])
    monkeypatch.setattr(common, "MAX_WORKERS", 2)
    monkeypatch.setattr(common, "_LAUNCHED", [Running(), Running()])
    at = started("new_study")
    at.number_input(key="study_workers").set_value(1).run()
    at.button(key="study_launch").click().run()
    assert not at.exception, at.exception
    assert any("already runs 2 of at most 2 workers" in e.value for e in at.error), [e.value for e in at.error]
    assert Store(env).studies() == []


def test_an_unsure_guess_is_one_click_from_its_alternative(env):
    rng = np.random.default_rng(0)
    codes = rng.choice(np.arange(10_000, 99_999), 60, replace=False)
    frame = pd.DataFrame({"user_id": rng.integers(0, 50, 2000), "item_id": rng.integers(0, 40, 2000),
                          "zone": codes[np.minimum(rng.zipf(1.3, 2000), 60) - 1], "click": rng.integers(0, 2, 2000)})
    at = started("data")
    at.file_uploader[0].set_value(("zones.csv", frame.to_csv(index=False).encode(), "text/csv")).run()
    assert not at.exception, at.exception
    (switch,) = [b for b in at.button if b.key and b.key.startswith("switch_") and b.key.endswith("_zone")]
    assert switch.label == "zone → numeric"
    switch.click().run()
    assert not at.exception, at.exception
    assert not [b for b in at.button if b.key and b.key.endswith("_zone")]       # switched: no longer offered
    at.button(key="data_save").click().run()
    stored = Schema.from_json(Store(env).find_dataset("zones").schema_json)
    assert stored.column("zone").role == "numeric" and stored.column("zone").reason == "set by you"


def test_use_this_model_scores_an_upload_and_offers_the_scored_csv(env, tmp_path):
    from cli_helpers import crossboard

    home, path = tmp_path / "home", tmp_path / "clicks.csv"
    frame = demo_frame(n_rows=1500, n_users=40, n_items=30, seed=2)
    frame.to_csv(path, index=False)
    assert crossboard(home, "ingest", str(path), "--name", "clicks", CROSSBOARD_DB=env).returncode == 0
    done = crossboard(home, "tune", "clicks", "--models", "lr,fm", "--trials", "2", "--epochs", "2", "--seeds", "0",
                      "--name", "used", CROSSBOARD_DB=env, timeout=600)
    assert done.returncode == 0, done.stderr
    study_id = Store(env).find_study("used").id
    at = started("leaderboard")
    assert "Use this model" in [t.label for t in at.tabs]
    assert "Use this model" not in [h.value for h in at.subheader]      # drawn when its tab is open
    at.session_state[f"leaderboard_tab_{study_id}"] = "Use this model"
    at.run()
    assert "Use this model" in [h.value for h in at.subheader]
    new_rows = frame.head(20).drop(columns=["click"]).assign(item_id="never-seen")
    at.file_uploader[0].set_value(("new.csv", new_rows.to_csv(index=False).encode(), "text/csv")).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    shown = texts(at)
    assert "Scored 20 rows" in shown and "probability" in shown
    assert "20 of 20 rows" in shown                                # unseen item ids are reported
    assert at.get("download_button")
    at.file_uploader[0].set_value(("bad.csv", new_rows.drop(columns=["price"]).to_csv(index=False).encode(),
                                   "text/csv")).run()
    assert not at.exception, at.exception
    assert "lacks the column 'price'" in "\n".join(e.value for e in at.error)
    at.selectbox(key=f"use_model_{study_id}").set_value("fm").run()
    at.button(key=f"export_{study_id}").click().run()
    assert not at.exception, at.exception
    assert any(b.proto.label == "Download the export (zip)" for b in at.get("download_button"))


def test_an_online_study_is_launched_and_its_online_tab_reads_the_replays(env, monkeypatch):
    import automl.search.control

    monkeypatch.setattr(automl.search.control, "launch_workers", lambda *args: [])
    at = started("new_study")
    at.button(key="models_none").click().run()
    at.checkbox(key="model_lr").check()
    at.number_input(key="study_trials").set_value(3).run()
    at.toggle(key="study_online").set_value(True).run()
    at.number_input(key="study_online_rows").set_value(2000).run()
    at.button(key="study_launch").click().run()
    assert not at.exception, at.exception
    store = Store(env)
    (study,) = store.studies()
    online = json.loads(study.config_json)["online"]
    assert online["window_rows"] == 2000 and online["initial"] == 0.2 and "incremental" in online["modes"]

    store.save_result(TrialResultRow(study_id=study.id, trial_number=0, model="lr", state="COMPLETE",
                                     params_json="{}", val_json=json.dumps({"auc": 0.7}),
                                     test_json=json.dumps({"auc": 0.7}), epochs=1, train_seconds=1.0, n_params=10))
    for mode, aucs in (("static", [0.60, 0.58]), ("incremental", [0.66, 0.67])):
        assert store.claim_online_run(study.id, "lr", mode, 0, None)
        windows = [{"window": 2 + w, "start": 1.7e9 + 3600 * w, "rows": 100, "auc": a, "logloss": 0.5,
                    "ndcg@10": 0.6, "seconds": 0.01} for w, a in enumerate(aucs)]
        store.finish_online_run(study.id, "lr", mode, state="done", result_json=json.dumps(
            {"auc": float(np.mean(aucs)), "logloss": 0.5, "ndcg@10": 0.6, "rows": 200, "windows": windows,
             "tuning_windows": 2, "reported_windows": 2, "options": {"lr_scale": 1.0} if mode != "static" else {}}))
    at.switch_page(PAGES["leaderboard"]).run()
    assert not at.exception, at.exception
    assert [t.label for t in at.tabs] == ["Best per model", "All trials", "Search history", "Online"]
    assert not at.tabs[3].dataframe                                   # drawn when its tab is open
    at.session_state[f"leaderboard_tab_{study.id}"] = "Online"
    at.run()
    assert not at.exception, at.exception
    online_table = at.tabs[3].dataframe[0].value
    assert online_table["mode"].tolist() == ["incremental", "static"]          # best online AUC first
    assert "scored before its labels were revealed" in "\n".join(c.value for c in at.tabs[3].caption)
    assert len(at.tabs[3].get("plotly_chart")) == 1


def test_a_study_waiting_for_workers_is_resumed_from_the_study_page(env, monkeypatch):
    import automl.search.control
    from automl.search.config import StudyConfig
    from automl.search.liveness import WAITING
    from automl.search.study import create_study

    launched = []
    monkeypatch.setattr(automl.search.control, "launch_workers",
                        lambda url, study_id, home, n: launched.append((study_id, n)) or [])
    at = started()
    store = Store(env)
    study = create_study(store, store.find_dataset(DEMO_NAME), StudyConfig(models=["lr"], n_trials=2, workers=1),
                         name="paused")
    store.update_study(study.id, status=WAITING, message="waiting for workers: the only worker was lost")
    at.switch_page(PAGES["study"]).run()
    assert not at.exception, at.exception
    assert "the only worker was lost" in texts(at)
    at.button(key="study_resume").click().run()
    assert not at.exception, at.exception
    assert launched == [(study.id, 1)]
