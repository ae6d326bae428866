"""The recommended models of a new study (``automl.search.recommended``): the task's models, diverse, as many
as the budget gives a fair start, read from the cards."""

from __future__ import annotations

from dataclasses import replace

import pytest

from automl.data.schema import ColumnInfo, Schema
from automl.search import recommended
from automl.search.allocation import MIN_TRIALS
from automl.search.capabilities import model_availability
from automl.search.config import StudyConfig
from automl.search.recommended import MIN_SHARE_S, fair_share_s, recommend
from models import REGISTRY


def schema(task: str, **roles: str) -> Schema:
    return Schema(task, "set by the test", [ColumnInfo(name, role, "set by the test") for name, role in roles.items()])


CTR_FIELDS = schema("ctr", ad="categorical", site="categorical", device="categorical", price="numeric",
                    click="label")
CTR_LOG = schema("ctr", user_id="user", item_id="item", category="categorical", ts="timestamp", click="label")
RATINGS = schema("rating", user_id="user", item_id="item", rating="label")


def budget(minutes: float | None = 12, workers: int = 1, trials: int | None = None, **more) -> StudyConfig:
    return StudyConfig(models=[], n_trials=trials, minutes=minutes, workers=workers, **more)


def families(models) -> set[str]:
    return {REGISTRY[m].family for m in models}


def test_a_12_minute_ctr_study_gets_references_and_deep_models_each_with_a_fair_start():
    picked = recommend(model_availability(CTR_FIELDS), budget(12)).models
    assert {"lr", "fm", "gbdt"} <= set(picked)                       # linear, factorization and tree references
    assert len([m for m in picked if REGISTRY[m].family == "deep crossing"]) >= 2
    assert families(picked) == families(m for m, why in model_availability(CTR_FIELDS).items() if why is None
                                        and REGISTRY[m].online_mode is None)
    assert fair_share_s(budget(12), list(picked)) >= MIN_SHARE_S
    assert fair_share_s(budget(12), [*picked, "one more"]) < MIN_SHARE_S     # one more would not get it


def test_a_log_with_history_adds_a_history_model_and_more_workers_more_models():
    one = recommend(model_availability(CTR_LOG), budget(12)).models
    two = recommend(model_availability(CTR_LOG), budget(12, workers=2)).models
    assert "behavior sequence" in families(one) and {"lr", "fm", "gbdt"} <= set(one)
    assert two[:len(one)] == one and len(two) > len(one)


def test_a_rating_dataset_gets_the_rating_models():
    picked = recommend(model_availability(RATINGS), budget(12)).models
    assert {"mf", "autorec"} <= set(picked)
    assert all("rating" in REGISTRY[m].tasks for m in picked)


def test_a_tiny_budget_gets_fewer_models_and_never_none():
    availability = model_availability(CTR_FIELDS)
    sizes = [len(recommend(availability, budget(minutes)).models) for minutes in (1, 3, 6, 12, 30)]
    assert sizes == sorted(sizes) and sizes[0] == 1 < sizes[-1]
    assert len(recommend(availability, budget(None, trials=2 * MIN_TRIALS)).models) == 2
    assert len(recommend(availability, budget(None, trials=1)).models) == 1
    every = recommend(availability, budget(None)).candidates          # no limit: every model that fits
    assert recommend(availability, budget(None)).models == every
    assert set(every) == {m for m, why in availability.items() if why is None and not REGISTRY[m].online_mode}


def test_a_model_with_an_online_mode_of_its_own_is_recommended_for_an_online_study_only():
    availability = model_availability(CTR_LOG)
    offline = recommend(availability, budget(12))
    assert "drn" not in offline.candidates and offline.online_only == ("drn",)
    online = recommend(availability, budget(12, online={}))
    assert "drn" in online.models and online.online_only == ()


def test_unavailable_models_are_never_recommended():
    availability = {**model_availability(CTR_FIELDS), "fm": "fm needs something", "lr": "lr needs something"}
    rec = recommend(availability, budget(None))
    assert not {"fm", "lr"} & set(rec.candidates)


def test_the_rule_reads_the_cards_not_the_names(monkeypatch):
    """A new card made for the rating task alone, in a family of its own, is taken before the references on a
    rating dataset; the same card open to every task takes its family's turn after them."""
    zoo = dict(REGISTRY)
    zoo["newcomer"] = replace(REGISTRY["mf"], name="newcomer", family="new family", tasks=frozenset({"rating"}))
    monkeypatch.setattr(recommended, "REGISTRY", zoo)
    availability = {**model_availability(RATINGS), "newcomer": None}
    order = recommend(availability, budget(None)).candidates
    assert order.index("newcomer") < order.index("lr")
    zoo["newcomer"] = replace(zoo["newcomer"], tasks=frozenset({"ctr", "rating", "implicit"}))
    order = recommend(availability, budget(None)).candidates
    assert order.index("newcomer") > order.index("lr")


@pytest.mark.parametrize("task", ["ctr", "implicit"])
def test_every_pick_is_one_the_dataset_can_run(task):
    availability = model_availability(CTR_LOG, task)
    assert all(availability[m] is None for m in recommend(availability, budget(12, workers=2)).models)
