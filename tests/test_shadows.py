"""Interactions, not shadows: hand-written scorers on a generated log with hierarchies (item_id -> category,
user_id -> segment, ad_id -> campaign) whose pairs are known, diagnosed through ``diagnose``; the model-free
data voter; a 24-value categorical field's pair found by the mixed difference."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from synth import HIERARCHY_ROLES, encode_frame, hierarchy_data, hierarchy_frame

from automl.diagnostics.agnostic import Settings
from automl.diagnostics.data_pairs import data_pairs
from automl.diagnostics.fields import schema_fields
from automl.diagnostics.shadows import fold, named_dependencies
from automl.diagnostics.trial import diagnose

SETTINGS = Settings(pair_rows=400, importance_rows=1000, repeats=3)


class Lookup:
    """A scorer in the shape of a tree ensemble (``model_outputs`` calls ``predict(features(batch))``)."""

    def __init__(self, logit):
        self.logit = logit

    def features(self, batch: dict) -> dict:
        return batch

    def predict(self, batch: dict) -> np.ndarray:
        return self.logit(batch)


def column(data, batch, name: str) -> np.ndarray:
    return batch["cat"][:, [f.name for f in data.spec.fields].index(name)]


@lru_cache(maxsize=1)
def parents():
    """item code -> its category code, user code -> its (most common) segment code, from the training rows."""
    data = hierarchy_data()
    train = {k: v.numpy() for k, v in data.splits["train"].items()}
    out = {}
    for child, parent in (("item_id", "category"), ("user_id", "segment")):
        c, p = column(data, train, child), column(data, train, parent)
        table = np.zeros((c.max() + 1, p.max() + 1))
        np.add.at(table, (c, p), 1)
        out[child] = table.argmax(axis=1)
    return out


def diagnosed(logit) -> dict:
    return diagnose(Lookup(logit), hierarchy_data(), SETTINGS)


TABLE = np.random.default_rng(3).choice([-1.0, 1.0], size=(64, 64))


def interactions(result: dict) -> list[frozenset]:
    return [frozenset(p["fields"]) for p in result["folded"]["folded"] if p["strength"] > 1e-9]


def test_a_pair_seen_through_the_item_is_folded_under_its_source():
    data = hierarchy_data()

    def logit(b):        # segment × category, read through the item id only
        return TABLE[column(data, b, "segment"), parents()["item_id"][column(data, b, "item_id")]]

    result = diagnosed(logit)
    raw = [frozenset(p["fields"]) for p in result["pairs"]]
    assert raw[0] == {"segment", "item_id"}                       # what the plain mixed difference sees
    (shadow,) = [s for s in result["folded"]["shadows"] if set(s["fields"]) == {"segment", "item_id"}]
    assert shadow["conditioned"]["strength"] < 1e-9 and shadow["source"] == ["category", "segment"]
    top = result["folded"]["folded"][0]
    assert set(top["fields"]) == {"segment", "category"} and top["also"][0]["fields"] == shadow["fields"]
    assert top["strength"] == shadow["strength"]
    assert interactions(result) == [frozenset({"segment", "category"})]


def test_both_fields_sources_fold_under_the_pair_of_what_they_determine():
    data = hierarchy_data()

    def logit(b):        # segment × category, read through the user and item ids
        return TABLE[parents()["user_id"][column(data, b, "user_id")], parents()["item_id"][column(data, b, "item_id")]]

    result = diagnosed(logit)
    assert frozenset(result["pairs"][0]["fields"]) == {"user_id", "item_id"}
    assert interactions(result)[0] == {"segment", "category"}
    assert {"user_id", "item_id"} not in interactions(result)


def test_an_item_level_interaction_stays_a_pair_of_its_own():
    data = hierarchy_data()
    own = np.random.default_rng(4).choice([-1.0, 1.0], size=(8, 2000))

    def logit(b):        # each item acts differently per segment: not a category effect
        return own[column(data, b, "segment"), column(data, b, "item_id")]

    result = diagnosed(logit)
    (shadow,) = [s for s in result["folded"]["shadows"] if set(s["fields"]) == {"segment", "item_id"}]
    assert shadow["source"] is None and shadow["conditioned"]["strength"] > 0.8 * shadow["strength"]
    assert interactions(result)[0] == {"segment", "item_id"}


def test_a_field_paired_with_one_it_determines_is_never_an_interaction():
    data = hierarchy_data()
    weight = np.random.default_rng(5).normal(size=2000)

    def logit(b):        # item × category "interaction": a function of the item alone
        return weight[column(data, b, "item_id")] * column(data, b, "category") + 0.3 * column(data, b, "device")

    result = diagnosed(logit)
    assert frozenset(result["pairs"][0]["fields"]) == {"item_id", "category"}
    (dropped,) = [p for p in result["folded"]["not_interactions"] if set(p["fields"]) == {"item_id", "category"}]
    assert dropped["reason"] == "category is determined by item_id"
    assert {"item_id", "category"} not in interactions(result)


def test_aliases_fold_under_the_earlier_name():
    deps = named_dependencies([(0, 1, 1.0), (1, 0, 1.0)], ["item", "item_name", "x"])
    assert deps == [{"source": "item_name", "determined": "item", "share": 1.0, "alias": True}]
    pairs = [{"fields": ["x", "item_name"], "strength": 0.4, "low": 0.3, "high": 0.5},
             {"fields": ["x", "item"], "strength": 0.1, "low": 0.05, "high": 0.15},
             {"fields": ["item", "item_name"], "strength": 0.2, "low": 0.1, "high": 0.3}]
    folded = fold(pairs, {frozenset(("x", "item_name")): {"strength": 0.0, "low": 0.0, "high": 0.0}}, deps)
    assert [(p["fields"], p["strength"]) for p in folded["folded"]] == [(["x", "item"], 0.4)]
    assert folded["not_interactions"][0]["reason"] == "item_name and item are aliases"


def test_the_data_voter_finds_both_planted_pairs_and_folds_their_shadows():
    data = hierarchy_data()
    fields = schema_fields(data.spec, data.splits["train"])
    deps = named_dependencies(data.spec.dependencies, [f.name for f in data.spec.fields])
    found = data_pairs(data, fields, deps, Settings())
    top = [frozenset(p["fields"]) for p in found["folded"][:2]]
    assert set(top) == {frozenset(("segment", "category")), frozenset(("hour", "device"))}
    assert all(p["low"] >= 0 for p in found["pairs"])
    shadows = {frozenset(s["fields"]) for s in found["shadows"] if s["source"] is not None}
    assert not shadows & set(top)


def test_a_pair_through_a_24_value_categorical_field_is_the_top_pair():
    """The method is not at fault when a model misses hour × device: a scorer that provably uses the pair
    through hour as a 24-value categorical field is found."""
    data = encode_frame(hierarchy_frame(), label="click", roles={**HIERARCHY_ROLES, "hour": "categorical"})
    hours = [f.name for f in data.spec.fields].index("hour")
    assert data.spec.fields[hours].cardinality == 25                 # 24 values and the out-of-vocabulary index
    table = np.random.default_rng(6).normal(size=(25, 5))

    def logit(b):
        return table[column(data, b, "hour"), column(data, b, "device")] + 0.5 * column(data, b, "category")

    result = diagnose(Lookup(logit), data, SETTINGS)
    assert set(result["pairs"][0]["fields"]) == {"hour", "device"} and result["pairs"][0]["low"] > 0
    assert all(p["strength"] < 1e-9 for p in result["pairs"][1:])


def test_the_cli_prints_a_pairs_shadows_beside_it_and_the_pairs_that_are_no_interaction(capsys):
    from automl.cli import also_seen, print_not_interactions, print_pairs

    folded = [{"fields": ["segment", "category"], "strength": 0.3, "low": 0.2, "high": 0.4,
               "also": [{"fields": ["segment", "item_id"], "strength": 0.25}]},
              {"fields": ["hour", "device"], "strength": 0.1, "low": 0.05, "high": 0.15, "also": []}]
    print_pairs(folded, extra=also_seen)
    print_not_interactions([{"fields": ["item_id", "category"], "reason": "category is determined by item_id"}])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["segment", "×", "category"] and lines[0].endswith("also seen as segment × item_id")
    assert "also seen" not in lines[1]
    assert lines[2] == "  not an interaction: item_id × category (category is determined by item_id)"
    assert also_seen({"also": [["user_id", "category"]]}) == "; also seen as user_id × category"   # the consensus' form
