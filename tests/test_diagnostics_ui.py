"""The Diagnostics page (and the leaderboard's link to it), run headless with AppTest on a tiny
study really tuned in-process: lr and fm on a generated click table with one planted pair."""

from __future__ import annotations

import base64
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from automl.data import datasets
from automl.diagnostics.consensus import DATA_VOTER, consensus_pairs, consensus_view, detected_crosses
from automl.reporting.diagnostics import study_diagnostics
from automl.search.config import StudyConfig
from automl.search.study import create_study
from automl.search.worker import run_worker
from storage import Store
from storage.tables import ArtifactRow, TrialResultRow
from ui.common import PAGES

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 120
HEATMAP_CAPTION = "the share of the model's output variance that the two fields carry only together"


def planted_frame(n_rows: int = 1500, seed: int = 0) -> pd.DataFrame:
    """Clicks from a numeric main effect and a colour × shape table (no other interaction)."""
    rng = np.random.default_rng(seed)
    sizes = {"colour": 5, "shape": 4, "region": 6, "brand": 5}
    codes = {name: rng.integers(0, k, n_rows) for name, k in sizes.items()}
    level = rng.normal(size=n_rows)
    logit = 0.5 * level + rng.choice([-1.5, 1.5], size=(5, 4))[codes["colour"], codes["shape"]]
    click = (rng.random(n_rows) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame({name: [f"{name[:2]}{v}" for v in values] for name, values in codes.items()})
    return frame.assign(level=level, click=click)


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """(store, home, study): lr and fm, 8 trials of 2 epochs (none pruned: 4 each, what the option importances
    need), tuned by one in-process worker."""
    home = tmp_path_factory.mktemp("diagnostics_ui")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CROSSBOARD_HOME", str(home))
        patch.setenv("CROSSBOARD_DB", f"sqlite:///{home / 'crossboard.db'}")
        patch.setenv("CROSSBOARD_THREADS", "2")
        store = Store()
        dataset = datasets.save(store, datasets.inspect(planted_frame().to_csv(index=False).encode(), "planted.csv"))
        study = create_study(store, dataset, StudyConfig(models=["lr", "fm"], n_trials=8, max_epochs=2, seeds=0,
                                                                 pruner="none"),
                             name="tiny")
        assert run_worker(store, study.id, home) == 0
        yield store, home, store.find_study(study.id)


def started(study_id: int, **params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"study": str(study_id), **params})
    at.run()
    assert not at.exception, at.exception
    at.switch_page(PAGES["diagnostics"]).run()
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["Diagnostics"]
    return at


def opened(at: AppTest, tab: str) -> AppTest:
    """The trial view with its tab ``tab`` open (only the open tab is drawn)."""
    at.session_state["diagnostics_trial_tab"] = tab
    at.run()
    assert not at.exception, at.exception
    return at


def figures(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def titled(at: AppTest, text: str) -> list[dict]:
    return [f for f in figures(at) if text in f["layout"].get("title", {}).get("text", "")]


SVG = "{http://www.w3.org/2000/svg}"


def drawn(at: AppTest, text: str) -> list[ET.Element]:
    """The SVG charts drawn on the server whose title contains ``text``."""
    charts = [ET.fromstring(m.value) for m in at.markdown if m.value.startswith("<svg")]
    return [c for c in charts if text in c.get("aria-label", "")]


def hover(chart: ET.Element, tag: str) -> list[str]:
    """The hover texts of a chart's rows (``tag`` "g") or cells ("rect"), top to bottom."""
    return [e.find(f"{SVG}title").text for e in chart.iter(f"{SVG}{tag}") if e.find(f"{SVG}title") is not None]


def bars(chart: ET.Element) -> list[tuple[str, float, float, float, str]]:
    """An interval chart's rows: (label, value, low, high, hover text)."""
    rows = []
    for text in hover(chart, "g"):
        label, value, low, high = re.match(r"(.*): (\S+) \(.* (\S+) – (\S+)\)", text).groups()
        rows.append((label, float(value), float(low), float(high), text))
    return rows


def cells(chart: ET.Element) -> tuple[list[str], dict[tuple[str, str], float]]:
    """A pair map's fields (its rows, top to bottom) and its cells {(row field, column field): value}."""
    names = [t.text for t in chart.iter(f"{SVG}text") if t.get("text-anchor") == "end" and not t.get("transform")]
    found = {}
    for text in hover(chart, "rect"):
        a, b, value = re.match(r"(.*) × (.*): (\S+)$", text).groups()
        found[a, b] = float(value)
    return names, found


def array(value) -> np.ndarray:
    """A figure's data array: a list, or plotly's typed array {"dtype", "bdata", "shape"}."""
    if isinstance(value, dict):
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        shape = value.get("shape")
        return flat.reshape([int(n) for n in str(shape).split(",")] if shape else -1).astype(float)
    return np.array(value, dtype=float)


def captions(at: AppTest) -> str:
    return "\n".join(c.value for c in at.caption)


def completed(store: Store, study) -> dict[int, str]:
    return {r.trial_number: r.model for r in store.results(study.id) if r.state == "COMPLETE"}


def test_the_study_view_shows_the_consensus_the_options_and_their_importance(tuned):
    store, _, study = tuned
    found = study_diagnostics(store, study)
    assert found["consensus"], "the tiny study should have diagnosed pairs"
    at = started(study.id)
    assert at.radio(key=f"diagnostics_view_{study.id}").value == "Study"
    assert not at.dataframe                                          # the table is drawn when opened
    at.session_state["consensus_every"] = True
    at.run()
    (table,) = [d.value for d in at.dataframe if "models" in d.value]
    assert table["pair"].tolist() == [" × ".join(p["fields"]) for p in found["consensus"]]
    (strongest,) = drawn(at, "Consensus pairs: the strongest")      # bars and map, drawn on the server
    shown = bars(strongest)
    assert shown[0][0] == " × ".join(found["consensus"][0]["fields"])
    assert all(low <= value <= high for _, value, low, high, _ in shown)
    names, map_cells = cells(drawn(at, "Consensus pair map")[0])
    assert map_cells and all(map_cells[b, a] == v for (a, b), v in map_cells.items())           # symmetric
    assert set(names) == {f for p in found["consensus"] for f in p["fields"]}
    assert "Darker = stronger." in captions(at)
    assert not at.get("plotly_chart") and not titled(at, "p = ")     # only the open tab is drawn
    charts_explained(at)
    at.session_state[f"diagnostics_study_tab_{study.id}"] = "Options compared"
    at.run()
    boxes = titled(at, "p = ")
    assert boxes and len(boxes) == min(len(found["options"]), 12) and not drawn(at, "Consensus pairs")
    first = found["options"][0]
    assert boxes[0]["layout"]["title"]["text"].startswith(f"{first['model']}.{first['option']} · p = ")
    assert all(trace["type"] == "box" for box in boxes for trace in box["data"])
    charts_explained(at)
    at.session_state[f"diagnostics_study_tab_{study.id}"] = "Which options mattered"
    at.run()
    assert found["importance"], "lr has the 4 completed trials that parameter importance needs"
    assert {m for m in ("lr", "fm") if titled(at, f"{m}: option importance")} == set(found["importance"])
    charts_explained(at)


def charts_explained(at: AppTest) -> None:
    """Every chart shown has its one line on how to read it (two SVG charts side by side share one)."""
    shown = len(at.get("plotly_chart")) + (len(drawn(at, "")) + 1) // 2
    assert shown <= sum(c.value.startswith(("Bar", "Each")) for c in at.caption)


def test_a_trial_chosen_in_the_url_shows_its_pairs_fields_and_own_view(tuned):
    store, _, study = tuned
    best_fm = next(a.trial_number for a in store.artifacts(study.id) if a.model == "fm")
    at = started(study.id, trial=str(best_fm))
    assert at.radio(key=f"diagnostics_view_{study.id}").value == "One trial"
    assert at.selectbox(key=f"diagnostics_model_{study.id}").value == "fm"
    assert at.selectbox(key=f"diagnostics_trial_{study.id}_fm").value == best_fm
    assert not at.error, [e.value for e in at.error]
    stored = json.loads(store.diagnostics(study.id, best_fm)[0].result_json)
    (heatmap,) = drawn(at, "Pair interaction map")
    names, map_cells = cells(heatmap)
    assert {f for p in stored["pairs"] for f in p["fields"]} == set(names)
    assert all(map_cells[b, a] == v for (a, b), v in map_cells.items()) and not any(a == b for a, b in map_cells)
    top = stored["pairs"][0]
    assert map_cells[tuple(top["fields"])] == pytest.approx(top["strength"], rel=1e-3)
    assert HEATMAP_CAPTION in captions(at)
    assert [t.label for t in at.tabs][:3] == ["Field pairs", "Fields", "The model's own view of the pairs"]
    assert not titled(at, "Field importance")                   # drawn when its tab is open
    (importance,) = titled(opened(at, "Fields"), "Field importance")
    assert importance["data"][0]["y"] == [f["field"] for f in stored["fields"]]
    assert importance["data"][0]["error_x"]["array"]
    assert "drops when the field's values are shuffled" in captions(at)
    assert drawn(opened(at, "The model's own view of the pairs"), "fm pair map"), "fm's own view should have a tab"
    assert "Spearman" in "\n".join(m.value for m in at.markdown)


def test_a_trial_without_stored_diagnostics_is_diagnosed_on_demand(tuned):
    store, _, study = tuned
    diagnosed = {d.trial_number for d in store.diagnostics(study.id)}
    waiting = sorted(n for n in completed(store, study) if n not in diagnosed)
    assert waiting, "some completed trial should not have been its model's best when it finished"
    at = started(study.id, trial=str(waiting[0]))
    assert not at.error, [e.value for e in at.error]
    assert store.diagnostics(study.id, waiting[0]), "opening the trial should compute and keep its diagnostics"
    assert drawn(at, "Pair interaction map") and titled(opened(at, "Fields"), "Field importance")


def test_the_trial_view_defaults_to_the_leaderboards_best_model_and_its_best_trial(tuned):
    store, _, study = tuned
    at = started(study.id)
    at.radio(key=f"diagnostics_view_{study.id}").set_value("One trial").run()
    assert not at.exception, at.exception
    artifacts = {a.model: (a.trial_number, a.value) for a in store.artifacts(study.id)}
    leader = max(artifacts, key=lambda m: artifacts[m][1])            # auc: higher is better
    assert at.selectbox(key=f"diagnostics_model_{study.id}").value == leader
    assert at.query_params.get("trial") == str(artifacts[leader][0])
    at.radio(key=f"diagnostics_view_{study.id}").set_value("Study").run()
    assert "trial" not in at.query_params


def test_tune_again_creates_a_study_with_the_detected_crosses(tuned, monkeypatch):
    import automl.search.control

    store, _, study = tuned
    launched = []
    monkeypatch.setattr(automl.search.control, "launch_workers", lambda *args: launched.append(args) or [])
    from automl.data.datasets import get_dataset
    from automl.data.schema import CROSSABLE_ROLES, Schema

    columns = set(Schema.from_json(get_dataset(store, study.dataset_id).schema_json).names(*CROSSABLE_ROLES))
    assert {"colour", "shape", "region", "brand"} < columns                 # a numeric column crossed by its bucket
    expected = detected_crosses(store, study.id, columns)
    assert expected
    at = started(study.id)
    button = at.button(key=f"diagnostics_tune_again_{study.id}")
    assert not button.disabled
    assert at.checkbox(key=f"diagnostics_add_wide_deep_{study.id}").value
    button.click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    again = store.find_study("tiny-crossed")
    assert again is not None and again.dataset_id == study.dataset_id
    config = json.loads(again.config_json)
    assert config["diagnosed_pairs"] == expected
    assert config["models"] == ["lr", "fm", "wide_deep"]
    original = json.loads(study.config_json)
    assert {k: config[k] for k in ("n_trials", "max_epochs", "seeds")} == {k: original[k] for k in
                                                                          ("n_trials", "max_epochs", "seeds")}
    assert launched and launched[0][1] == again.id
    assert [t.value for t in at.title] == ["Study"] and at.query_params.get("study") == str(again.id)


def bare_study(store: Store, source, name: str, aucs: list[float]):
    """A study on ``source``'s dataset with completed lr trials written directly (no model, no diagnostics)."""
    bare = create_study(store, store.find_dataset(source.dataset_id), StudyConfig(models=["lr"], n_trials=2, seeds=0),
                        name=name)
    for number, auc in enumerate(aucs):
        store.save_result(TrialResultRow(
            study_id=bare.id, trial_number=number, model="lr", state="COMPLETE", params_json="{}",
            val_json=json.dumps({"auc": auc}), test_json=json.dumps({"auc": auc}), epochs=1, train_seconds=1.0,
            n_params=10))
    return bare


def test_tune_again_is_disabled_without_diagnosed_pairs(tuned):
    store, _, study = tuned
    bare = bare_study(store, study, "undiagnosed", [0.61, 0.63])
    at = started(bare.id)
    assert at.button(key=f"diagnostics_tune_again_{bare.id}").disabled
    assert "nothing to cross" in captions(at)
    assert "No model's best trial has diagnostics yet" in "\n".join(i.value for i in at.info)


def test_a_selected_leaderboard_row_links_to_that_trials_diagnostics(tuned):
    _, _, study = tuned
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["study"] = str(study.id)
    at.run()
    at.session_state[f"leaderboard_tab_{study.id}"] = "All trials"
    at.switch_page(PAGES["leaderboard"]).run()
    assert not at.exception, at.exception
    assert not [p for p in at.page_link if p.value.startswith("Diagnostics of trial")]
    board = at.dataframe[0].value
    at.session_state[f"leaderboard_trials_{study.id}"] = {"selection": {"rows": [1], "columns": [], "cells": []}}
    at.run()
    assert not at.exception, at.exception
    (link,) = [p for p in at.page_link if p.value.startswith("Diagnostics of trial")]
    trial = int(board["trial"].iloc[1])
    assert link.value == f"Diagnostics of trial {trial} ({board['model'].iloc[1]})"
    assert f"trial={trial}" in link.proto.query_string and f"study={study.id}" in link.proto.query_string
    assert link.proto.page == "diagnostics"


SYNTHETIC = {
    "trial": 0, "model": "lr", "rows": 100, "seconds": 0.5, "metric": "auc", "pair_fields": 3, "of_fields": 3,
    "fields": [{"field": f, "importance": v, "low": v - 0.01, "high": v + 0.01} for f, v in
               (("item", 0.2), ("category", 0.1), ("hour", 0.0))],
    "pairs": [{"fields": ["item", "category"], "strength": 0.3, "low": 0.2, "high": 0.4},
              {"fields": ["category", "hour"], "strength": 0.1, "low": 0.05, "high": 0.15},
              {"fields": ["item", "hour"], "strength": 0.0, "low": 0.0, "high": 0.0}],
    "intrinsic": {"attention": [{"fields": ["item", "category"], "strength": 0.7}]}, "agreement": {"attention": None},
    "attention": {"by_recency": [1.6, 0.9, None],
                  "by_attribute": {"category": {"same": 1.4, "other": 0.8, "same_steps": 10, "other_steps": 20}},
                  "examples": [{"weights": [0.2, 0.8], "shares": [False, True], "attribute": "category"},
                               {"weights": [0.1, 0.3, 0.6], "shares": [True, False, True], "attribute": "category"}]},
    "share": {"wide": 0.25, "deep": 0.75, "correlation": 0.1},
}


def test_the_trial_view_shows_attention_and_the_wide_deep_share_and_a_failed_computation(tuned):
    store, _, study = tuned
    bare = bare_study(store, study, "synthetic", [0.61, 0.63])
    store.save_diagnostics(bare.id, 0, "lr", json.dumps(SYNTHETIC))
    store.save_diagnostics(bare.id, 1, "lr", json.dumps({"trial": 1, "model": "lr", "error": "ValueError: boom"}))
    at = started(bare.id, trial="0")
    assert not at.error, [e.value for e in at.error]
    assert [t.label for t in at.tabs][:5] == ["Field pairs", "Fields", "The model's own view of the pairs",
                                             "Attention over the history", "Wide and deep parts"]
    charts_explained(at)
    opened(at, "Attention over the history")
    (recency,) = titled(at, "Attention by recency")
    assert list(array(recency["data"][0]["x"])) == [0, 1]        # the step without data is left out
    (attribute,) = titled(at, "sharing the candidate's attribute")
    assert [list(array(t["y"])) for t in attribute["data"]] == [[1.4], [0.8]]
    (strip,) = titled(at, "Example histories")
    z = array(strip["data"][0]["z"])
    assert z.shape == (2, 3) and np.isnan(z[0, 0]) and z[0, 2] == pytest.approx(0.8)   # newest step on the right
    assert strip["data"][0]["text"] == [["", "", "●"], ["●", "", "●"]]
    (share,) = titled(opened(at, "Wide and deep parts"), "Share of the logit's variance")
    assert list(array(share["data"][0]["x"])) == [0.25, 0.75]
    (own,) = drawn(opened(at, "The model's own view of the pairs"), "attention pair map")
    assert cells(own)[0] == ["item", "category"]
    assert "**—**" in "\n".join(m.value for m in at.markdown)      # no Spearman agreement: shown as a dash
    at.selectbox(key=f"diagnostics_trial_{bare.id}_lr").set_value(1).run()
    assert not at.exception, at.exception
    assert at.query_params.get("trial") == "1"
    assert ["ValueError: boom" in e.value for e in at.error] == [True]
    assert not drawn(at, "Pair interaction map")
    at.button(key=f"diagnostics_again_{bare.id}_1").click().run()      # the synthetic trial cannot be refitted
    assert not at.exception, at.exception
    assert any("diagnostics of trial 1 failed" in e.value for e in at.error[1:]), [e.value for e in at.error]


def test_a_trial_in_the_url_follows_its_study(tuned):
    store, _, study = tuned
    other = bare_study(store, study, "other", [0.60, 0.62])
    best_fm = next(a.trial_number for a in store.artifacts(study.id) if a.model == "fm")
    at = started(study.id, trial=str(best_fm))
    at.selectbox(key="diagnostics_select").set_value(other.id).run()       # another study, picked here
    assert not at.exception, at.exception
    assert "trial" not in at.query_params and at.radio(key=f"diagnostics_view_{other.id}").value == "Study"
    at.switch_page(PAGES["leaderboard"]).run()
    at.query_params.update({"study": str(other.id), "trial": "0"})          # a link from the leaderboard
    at.switch_page(PAGES["diagnostics"]).run()
    assert not at.exception, at.exception
    assert at.radio(key=f"diagnostics_view_{other.id}").value == "One trial"
    assert at.selectbox(key=f"diagnostics_trial_{other.id}_lr").value == 0


def test_an_undiagnosed_trial_asked_for_is_computed_at_once_with_its_steps_shown(tuned):
    store, _, study = tuned
    best = {a.model: a.trial_number for a in store.artifacts(study.id)}
    waiting = [(model, n) for n, model in completed(store, study).items()
               if n not in store.diagnosed_trials(study.id) and n != best[model]]
    assert waiting, "a completed trial that was not its model's best should have no diagnostics yet"
    model, number = waiting[-1]
    at = started(study.id, trial=str(best[model]))                       # a diagnosed trial first
    at.selectbox(key=f"diagnostics_trial_{study.id}_{model}").set_value(number).run()      # then the other one
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert store.diagnostics(study.id, number), "computed and kept in this one run of the page, in its own process"
    (status,) = at.status
    assert status.state == "complete" and status.label.startswith(f"Diagnostics of trial {number} computed in")
    steps = "\n".join(m.value for m in at.markdown)
    for step in ("loading the study's data", f"fitting trial {number} again with its seed",
                 "scoring the validation rows"):
        assert step in steps, steps
    assert [bar.value for bar in at.get("progress")] == [100]
    assert f"trial {number} ({model})" in captions(at) and f"trial {best[model]} ({model})" not in captions(at)
    assert drawn(at, "Pair interaction map") and titled(opened(at, "Fields"), "Field importance")


def diagnosed_bests(store: Store, source, name: str, pairs: dict[str, dict[tuple[str, str], float]],
                    aucs: dict[str, float] | None = None, extra: dict | None = None):
    """A study on ``source``'s dataset whose models' one trial each is their best and keeps diagnostics with
    ``pairs`` (model -> {pair: strength}), validation ``aucs`` (default 0.7 each) and ``extra`` keys."""
    study = create_study(store, store.find_dataset(source.dataset_id),
                         StudyConfig(models=list(pairs), n_trials=len(pairs), seeds=0), name=name)
    for number, (model, strengths) in enumerate(pairs.items()):
        auc = (aucs or {}).get(model, 0.7)
        store.finish_trial(TrialResultRow(study_id=study.id, trial_number=number, model=model, state="COMPLETE",
                                          params_json="{}", val_json=json.dumps({"auc": auc})),
                           ArtifactRow(study_id=study.id, model=model, trial_number=number, value=auc,
                                       config_json="{}", weights=b"w", sha256="0" * 64), maximize=True)
        store.save_diagnostics(study.id, number, model, json.dumps({
            **SYNTHETIC, **(extra or {}), "trial": number, "model": model,
            "pairs": [{"fields": list(p), "strength": v, "low": v, "high": v} for p, v in strengths.items()]}))
    return study


def test_the_consensus_interval_stays_within_0_and_1(tuned):
    store, _, study = tuned
    # colour × shape is the strongest pair of two models and a fifth of the strongest of the third: scaled 1, 1
    # and 0.2, whose mean ± 2 standard errors would reach 1.27
    strong, weak = {("colour", "shape"): 0.5, ("region", "brand"): 0.1}, {("colour", "shape"): 0.1,
                                                                           ("region", "brand"): 0.5}
    agreed = diagnosed_bests(store, study, "agreed", {"lr": strong, "fm": strong, "deepfm": weak})
    consensus = consensus_pairs(store, agreed.id)
    assert [p["fields"] for p in consensus] == [["colour", "shape"], ["brand", "region"]]
    assert consensus[0]["strength"] == pytest.approx((1 + 1 + 0.2) / 3)
    for pair in consensus:
        assert 0.0 <= pair["low"] <= pair["strength"] <= pair["high"] <= 1.0, pair
    assert consensus[0]["high"] == pytest.approx(1.0) and consensus[0]["low"] == pytest.approx(0.2)
    at = started(agreed.id)
    (strongest,) = drawn(at, "Consensus pairs: the strongest")
    assert all(0.0 <= low <= value <= high <= 1.0 for _, value, low, high, _ in bars(strongest))
    assert "95% bootstrap interval" in captions(at)


def folded(pairs: dict[tuple[str, str], float]) -> dict:
    """A voter's folded pairs (``FoldedPairs``) with these strengths and no shadow."""
    return {"folded": [{"fields": list(p), "strength": v, "low": v, "high": v, "also": []} for p, v in pairs.items()],
            "shadows": [], "not_interactions": []}


def test_a_near_constant_model_is_outvoted_and_a_missed_pair_is_said(tuned):
    store, _, study = tuned
    good = {("colour", "shape"): 0.5, ("region", "brand"): 0.02}
    flat = {("region", "brand"): 0.5, ("colour", "region"): 0.4, ("brand", "shape"): 0.3, ("region", "shape"): 0.2,
            ("colour", "shape"): 0.01}
    # unweighted, the two models near the constant predictor would put region × brand first: (0.04 + 1 + 1) / 3
    weighed = diagnosed_bests(store, study, "weighed", {"lr": good, "fm": flat, "deepfm": flat},
                              aucs={"lr": 0.80, "fm": 0.51, "deepfm": 0.505}, extra={"data": {
                                  "pairs": [], "rows": 100, **folded({("colour", "shape"): 0.3})}})
    view = consensus_view(store, weighed.id)
    assert view["weights"]["lr"] == 1.0 and view["weights"][DATA_VOTER] == 1.0
    assert view["weights"]["fm"] == pytest.approx(0.01 / 0.3)
    first, second = view["pairs"][:2]
    assert first["fields"] == ["colour", "shape"] and first["data"] == 1.0
    assert second["fields"] == ["brand", "region"] and second["strength"] < 0.2
    for pair in view["pairs"]:
        assert 0.0 <= pair["low"] <= pair["strength"] <= pair["high"] <= 1.0, pair
    sentences = [m["sentence"] for m in view["misses"]]
    assert "fm did not learn colour × shape; lr and the data did (fm: rank 5, 2% of its strongest pair)." in sentences
    at = started(weighed.id)
    assert not at.exception, at.exception
    assert "deepfm did not learn colour × shape" in "\n".join(m.value for m in at.markdown)


def test_the_trial_view_shows_the_folded_pairs_their_shadows_and_what_is_no_interaction(tuned):
    store, _, study = tuned
    bare = bare_study(store, study, "folded", [0.61, 0.63])
    shadow = {"fields": ["hour", "item"], "strength": 0.2, "low": 0.1, "high": 0.3}
    store.save_diagnostics(bare.id, 0, "lr", json.dumps({
        **SYNTHETIC, "pairs": [*SYNTHETIC["pairs"][:2], shadow],
        "dependencies": [{"source": "item", "determined": "category", "share": 1.0, "alias": False}],
        "folded": {"folded": [{**SYNTHETIC["pairs"][1], "strength": 0.2, "also": [{"fields": ["hour", "item"],
                                                                                  "strength": 0.2}]}],
                   "shadows": [{**shadow, "conditioned": {"strength": 0.0, "low": 0.0, "high": 0.0},
                                "source": ["category", "hour"]}],
                   "not_interactions": [{"fields": ["item", "category"], "strength": 0.3,
                                         "reason": "category is determined by item"}]}}))
    at = started(bare.id, trial="0")
    assert not at.exception, at.exception
    (folded_bars,) = drawn(at, "Interactions (shadows folded)")   # beside the map: the folded bars
    ((label, *_, tip),) = bars(folded_bars)
    assert label == "category × hour" and "also seen as hour × item" in tip
    assert "item × category (category is determined by item)" in captions(at).replace("\\", "")
    assert not at.dataframe                                       # "All pairs" is drawn when opened
    at.session_state["diagnostics_all_pairs_lr"] = True
    at.run()
    (table,) = [d.value for d in at.dataframe if "shadow of" in d.value]
    assert table.set_index("pair").loc["hour × item", "shadow of"] == "category × hour"
    assert drawn(at, "Pair interaction map")         # the raw pairs' map, as measured
