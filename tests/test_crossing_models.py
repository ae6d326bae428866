"""The crossing models build from their cards, run on every numeric mode and main option, and
expose their interaction diagnostics."""

from __future__ import annotations

import pytest
import torch
from synth import planted_ctr_data

from automl.training.fit import train_and_evaluate
from models import REGISTRY
from models.spec import DataSpec, FieldInfo

CROSSING = ["deep_crossing", "pnn", "nfm", "afm", "dcnv2", "autoint", "xdeepfm"]
CARDINALITIES = [3, 7, 12, 25, 50]
B = 16

# The main options of each model, applied on top of its card defaults.
VARIANTS = {
    "deep_crossing": [{"residual_units": 1, "inner_width": 64}],
    "pnn": [{"product": "inner"}, {"product": "both", "opnn_sum_pooling": True},
            *({"product": "outer", "opnn_sum_pooling": False, "kernel": k} for k in ("mat", "vec", "num")),
            {"product": "both", "opnn_sum_pooling": True, "pair_gates": "gated", "gate_l1": 1e-3}],
    "nfm": [{"hidden_layers": 0}, {"hidden_layers": 3, "batch_norm": False},
            {"hidden_layers": 1, "pair_gates": "gated", "gate_l1": 1e-3}],
    "afm": [{"attention_size": 4, "dropout": 0.0}],
    "dcnv2": [{"structure": s, "rank": r} for s in ("stacked", "parallel") for r in ("full", "8")],
    "autoint": [{"residual": False}, {"dnn": True, "hidden": "64", "dropout": 0.1, "batch_norm": True}],
    "xdeepfm": [{"split_half": False}, {"cin_layers": "100-100-100"}],
}
# Card defaults under every numeric mode, then each main option with numerics both raw and bucketized.
CASES = [(name, {"numeric_mode": mode}) for name in CROSSING for mode in ("raw", "bucketize", "both")] + [
    (name, {**v, "numeric_mode": "both"}) for name in CROSSING for v in VARIANTS[name]
]


def small_spec(task: str = "ctr") -> DataSpec:
    return DataSpec(
        task=task,
        fields=tuple(FieldInfo(f"c{i}", card) for i, card in enumerate(CARDINALITIES)),
        numeric=("n0", "n1"),
        buckets=(FieldInfo("n0_bkt", 5), FieldInfo("n1_bkt", 5)),
        label_mean=0.3 if task == "ctr" else 3.5,
    )


def random_batch(spec: DataSpec, n: int = B) -> dict[str, torch.Tensor]:
    return {
        "cat": torch.stack([torch.randint(0, f.cardinality, (n,)) for f in spec.fields], dim=1),
        "num": torch.randn(n, len(spec.numeric)),
        "num_bkt": torch.stack([torch.randint(0, f.cardinality, (n,)) for f in spec.buckets], dim=1),
        "label": torch.randint(0, 2, (n,)).float(),
    }


@pytest.mark.parametrize("name", CROSSING)
def test_card(name):
    card = REGISTRY[name]
    assert {"ctr", "rating"} <= card.tasks and card.requires == {"fields"}
    spec = small_spec()
    assert card.unavailable_reason(spec.task, spec.available()) is None


def case_id(name: str, options: dict) -> str:
    return "-".join([name, *(f"{k}={v}" for k, v in options.items())])


@pytest.mark.parametrize(("name", "options"), CASES, ids=[case_id(n, o) for n, o in CASES])
def test_forward_and_interactions(name, options):
    torch.manual_seed(0)
    card, spec = REGISTRY[name], small_spec()
    params = {**card.defaults, **options}
    model = card.build(spec, params)
    batch = random_batch(spec)
    model.train()
    out = model(batch)
    assert out.shape == (B,) and torch.isfinite(out).all()
    out.sum().backward()
    model.eval()
    with torch.no_grad():
        terms = model.interactions(batch)
    f = len(model.interaction_names())
    for key in terms:
        assert terms[key].shape == (f, f) and torch.isfinite(terms[key]).all(), key


@pytest.mark.parametrize(("name", "key"), [("afm", "pairs:afm"), ("pnn", "pairs:products"),
                                           ("autoint", "pairs:attention"), ("nfm", "pairs:bi_interaction"),
                                           ("dcnv2", "pairs:cross_weights")])
def test_interaction_keys(name, key):
    """The pair views are over the fields (tests/test_interaction_hooks.py checks their values)."""
    card, spec = REGISTRY[name], small_spec()
    model = card.build(spec, card.defaults).eval()
    with torch.no_grad():
        terms = model.interactions(random_batch(spec))
    n = len(CARDINALITIES) + (len(spec.numeric) if name == "dcnv2" else 0)    # DCN-V2 crosses raw numerics too
    assert list(terms) == [key] and terms[key].shape == (n, n) and len(model.interaction_names()) == n


def test_sum_pooled_pnn_has_no_pair_diagnostic():
    card, spec = REGISTRY["pnn"], small_spec()
    model = card.build(spec, {**card.defaults, "product": "outer", "opnn_sum_pooling": True}).eval()
    assert model.interactions(random_batch(spec)) == {}


@pytest.mark.parametrize("name", CROSSING)
def test_rating_starts_at_the_mean(name):
    card, spec = REGISTRY[name], small_spec("rating")
    model = card.build(spec, card.defaults).eval()
    with torch.no_grad():
        out = model(random_batch(spec, 256))
    assert abs(out.mean().item() - 3.5) < 0.5


# Small widths keep the learning test fast: the crossing operators are under test, not the paper's sizes.
TINY = {"embed_dim": 8, "hidden": "64", "cin_layers": "32-32", "residual_units": 2, "inner_width": 64,
        "attention_dim": 16, "dropout": 0.0, "bi_dropout": 0.0}
FIT = {"lr": 1e-2, "batch_size": 256, "l2": 1e-6, "numeric_mode": "both"}


def test_crossing_models_beat_lr_on_planted_interactions():
    """Clicks depend on segment x category and device x hour: LR cannot represent either."""
    data = planted_ctr_data(n_rows=12_000)

    def test_auc(name: str) -> float:
        card = REGISTRY[name]
        params = {**card.defaults, **{k: v for k, v in TINY.items() if k in card.defaults}, **FIT}
        return train_and_evaluate(card, params, data, metric="auc", max_epochs=4, patience=4).test["auc"]

    baseline = test_auc("lr")
    aucs = {name: test_auc(name) for name in CROSSING}
    assert all(auc > baseline + 0.04 for auc in aucs.values()), (baseline, aucs)
