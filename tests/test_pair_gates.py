"""The per-pair crossing choice (``pair_gates``) of FM, DeepFM, NFM, PNN and Wide & Deep: the gate
math by hand, gates that keep a planted pair and drop noise pairs, the option in every search
space; and Wide & Deep crossing a numeric column's quantile bucket with a categorical field."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from optuna.trial import FixedTrial
from synth import encode_frame
from torch.testing import assert_close

from automl.features.cross_pairs import rank_pairs
from automl.training.loop import make_optimizers
from models import REGISTRY
from models.card import ScopedTrial, search_options
from models.layers.interactions.fm import bi_interaction, fm_interaction
from models.layers.interactions.gates import PairGates
from models.layers.interactions.inner_product import inner_products
from models.pnn import pnn_space
from models.spec import DataSpec, FieldInfo, column_name

GATED = ["fm", "deepfm", "nfm", "pnn", "wide_deep"]
F, K = 5, 4
PAIRS = list(itertools.combinations(range(F), 2))
SMALL = {"embed_dim": 8, "hidden": "32", "dropout": 0.0, "hidden_width": 32, "bi_dropout": 0.0}


def gated(l1: float = 0.0) -> dict:
    return {"pair_gates": "gated", "gate_l1": l1}


@pytest.fixture
def emb() -> torch.Tensor:
    return torch.randn(3, F, K, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def gates_with(values: torch.Tensor) -> PairGates:
    gates = PairGates(len(values)).double()
    with torch.no_grad():
        gates.alpha.copy_(values)
    return gates


def test_gates_at_one_give_the_plain_fm_and_bi_interaction(emb):
    ones = gates_with(torch.ones(len(PAIRS), dtype=torch.float64)).matrix(F)
    assert_close(fm_interaction(emb, ones), fm_interaction(emb))
    assert_close(bi_interaction(emb, ones), bi_interaction(emb))


def test_gated_terms_equal_the_explicit_weighted_pair_sum(emb):
    alpha = torch.linspace(-1.0, 2.0, len(PAIRS), dtype=torch.float64)
    matrix = gates_with(alpha).matrix(F)
    assert torch.equal(matrix, matrix.T) and (matrix.diagonal() == 0).all()
    explicit = sum(a * emb[:, i] * emb[:, j] for a, (i, j) in zip(alpha, PAIRS, strict=True))
    assert_close(bi_interaction(emb, matrix), explicit)
    assert_close(fm_interaction(emb, matrix), explicit.sum(-1))


def test_a_zero_gate_removes_its_pair(emb):
    alpha = torch.ones(len(PAIRS), dtype=torch.float64)
    alpha[PAIRS.index((1, 3))] = 0.0
    without = fm_interaction(emb) - (emb[:, 1] * emb[:, 3]).sum(-1)
    assert_close(fm_interaction(emb, gates_with(alpha).matrix(F)), without)
    products = gates_with(alpha)(inner_products(emb))
    assert (products[:, PAIRS.index((1, 3))] == 0).all()
    assert_close(products[:, PAIRS.index((0, 1))], (emb[:, 0] * emb[:, 1]).sum(-1))


def test_the_l1_penalty_is_left_by_training_calls_only():
    gates = gates_with(torch.tensor([1.0, -0.5, 0.25]))
    gates.l1 = 0.1
    gates.train()(torch.ones(2, 3))
    assert_close(gates.penalty, torch.tensor(0.175, dtype=torch.float64))
    gates.drop_penalty()
    gates.eval()(torch.ones(2, 3))
    assert gates.penalty is None


def small_spec(n_fields: int = F, cardinality: int = 8, buckets: tuple[FieldInfo, ...] = ()) -> DataSpec:
    return DataSpec(task="ctr", fields=tuple(FieldInfo(f"f{i}", cardinality) for i in range(n_fields)),
                    numeric=tuple(column_name(b.name) for b in buckets), buckets=buckets, label_mean=0.4,
                    ranked_pairs=tuple(itertools.combinations(range(n_fields), 2)))


def card_params(name: str, **options) -> dict:
    card = REGISTRY[name]
    crosses = {"n_crosses": 10} if name == "wide_deep" else {}
    return {**card.defaults, **{k: v for k, v in SMALL.items() if k in card.defaults}, **crosses, **options}


def random_batch(spec: DataSpec, n: int = 32) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return {"cat": torch.randint(0, 8, (n, spec.n_fields), generator=g), "num": torch.zeros(n, 0),
            "num_bkt": torch.zeros(n, 0, dtype=torch.long), "label": torch.randint(0, 2, (n,), generator=g).float()}


@pytest.mark.parametrize("name", GATED)
def test_gates_at_one_leave_each_model_unchanged(name):
    """Gates start at 1: the gated model computes the ungated one (same weights), and its hook
    adds ``pairs:gates``, a [F, F] matrix of |α| (here all 1 on the gated pairs)."""
    spec, batch = small_spec(), random_batch(small_spec())
    plain = REGISTRY[name].build(spec, card_params(name)).eval()
    model = REGISTRY[name].build(spec, card_params(name, **gated(1e-3))).eval()
    with torch.no_grad():
        for p in plain.parameters():             # Wide & Deep's crosses start at 0: make them count
            p.add_(0.1 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    missing = model.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert missing == ["gates.alpha"]
    with torch.no_grad():
        assert_close(model(batch), plain(batch))
        views = model.interactions(batch)
    gates = views["pairs:gates"]
    assert gates.shape == (F, F) and torch.equal(gates, gates.T) and (gates.diagonal() == 0).all()
    assert set(gates[torch.triu_indices(F, F, 1).unbind()].tolist()) == {1.0}
    assert {k for k in views if k.startswith("pairs:")} - {"pairs:gates"}, "the model's own pair view stays"


@pytest.mark.parametrize("name", GATED)
def test_gated_training_adds_the_gate_penalty_to_the_loss(name):
    spec, batch = small_spec(), random_batch(small_spec())
    model = REGISTRY[name].build(spec, card_params(name, **gated(0.01)))
    model.train()(batch)
    assert_close(model.aux_loss(), 0.01 * model.gates.alpha.abs().sum() + model.embedding.penalty)
    assert id(model.gates.alpha) in {id(p) for group in model.parameter_groups().values() for p in group}


def planted_log(n_rows: int = 6000, seed: int = 1) -> tuple[DataSpec, dict[str, torch.Tensor]]:
    """6 fields of 8 values: small main effects everywhere, one planted pair (1, 3) of ±1.5."""
    g = torch.Generator().manual_seed(seed)
    cat = torch.randint(1, 8, (n_rows, 6), generator=g)
    table = (torch.randint(0, 2, (8, 8), generator=g).float() * 2 - 1) * 1.5
    logit = table[cat[:, 1], cat[:, 3]] + sum(0.3 * torch.randn(8, generator=g)[cat[:, f]] for f in range(6))
    label = (torch.rand(n_rows, generator=g) < torch.sigmoid(logit)).float()
    spec = small_spec(6)
    return spec, {"cat": cat, "num": torch.zeros(n_rows, 0), "num_bkt": torch.zeros(n_rows, 0, dtype=torch.long),
                  "label": label}


# NFM with its default BatchNorm on f_BI is left out: the norm makes the output blind to a common
# factor of all gates, so L1 shrinks them together and they separate far less (docs/BENCHMARKS.md).
LEARNERS = {"fm": {}, "deepfm": {}, "pnn": {}, "nfm": {"batch_norm": False}, "wide_deep": {}}


@pytest.mark.parametrize("name", LEARNERS)
def test_gates_keep_the_planted_pair_and_drop_the_noise_pairs(name):
    """300 steps of the training loop's optimizers on a log with one planted pair among 15."""
    torch.manual_seed(0)
    spec, rows = planted_log()
    params = card_params(name, lr=1e-2, **gated(1e-2), **LEARNERS[name], n_crosses=15)
    model = REGISTRY[name].build(spec, params)
    optimizers = make_optimizers(model, params)
    for _ in range(300):
        idx = torch.randint(0, len(rows["label"]), (256,))
        batch = {k: v[idx] for k, v in rows.items()}
        model.train()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(batch), batch["label"]) + model.aux_loss()
        for opt in optimizers:
            opt.zero_grad()
        loss.backward()
        for opt in optimizers:
            opt.step()
    with torch.no_grad():
        gates = model.eval().interactions({k: v[:512] for k, v in rows.items()})["pairs:gates"]
    noise = max(float(gates[i, j]) for i, j in itertools.combinations(range(6), 2) if (i, j) != (1, 3))
    assert float(gates[1, 3]) > 0.3 and noise < float(gates[1, 3]) / 5, (float(gates[1, 3]), noise)


@pytest.mark.parametrize("name", GATED)
def test_the_option_is_in_each_search_space(name):
    options = search_options(REGISTRY[name])
    assert options["pair_gates"]["choices"] == ["off", "gated"]
    assert options["gate_l1"]["type"] == "float" and options["gate_l1"]["log"]
    assert REGISTRY[name].defaults["pair_gates"] == "off" and "pair_gates" in REGISTRY[name].key_options


def test_sum_pooled_pnn_has_no_gates_to_search():
    spec = small_spec()
    params = card_params("pnn", product="outer", opnn_sum_pooling=True, hidden="64", **gated(1e-3))
    assert REGISTRY["pnn"].build(spec, params).gates is None
    chosen = pnn_space(ScopedTrial(FixedTrial({f"pnn.{k}": v for k, v in params.items()}), "pnn"), spec)
    assert "pair_gates" not in chosen


def hour_device_frame(n_rows: int = 6000, seed: int = 0) -> pd.DataFrame:
    """Clicks from hour (numeric, 0-24) × device: mobile clicks at night, desktop by day; a noise field."""
    rng = np.random.default_rng(seed)
    hour = rng.uniform(0, 24, n_rows).round(2)
    device = rng.choice(["mobile", "desktop", "tablet"], n_rows)
    night = (hour < 6) | (hour >= 20)
    logit = np.where(night == (device == "mobile"), 1.2, -1.2) * (device != "tablet")
    click = (rng.random(n_rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({"hour": hour, "device": device, "colour": rng.choice(list("abcdef"), n_rows), "click": click})


def test_wide_and_deep_crosses_a_numeric_bucket_with_a_field():
    data = encode_frame(hour_device_frame())
    spec, train = data.spec, data.splits["train"]
    assert "hour" in spec.numeric and "hour" not in [f.name for f in spec.fields]
    device = [f.name for f in spec.fields].index("device")
    hour = spec.n_fields + [column_name(b.name) for b in spec.buckets].index("hour")
    pairs = rank_pairs(train["cat"].numpy(), train["label"].numpy(), "ctr", buckets=train["num_bkt"].numpy())
    assert pairs[0] == (device, hour)
    spec = replace(spec, ranked_pairs=tuple(pairs))
    model = REGISTRY["wide_deep"].build(spec, card_params("wide_deep", n_crosses=1, numeric_mode="raw"))
    assert model.crosses_buckets and model.interaction_names()[hour] == "hour"
    rows = {k: v[:512] for k, v in data.splits["val"].items()}
    ids = model.crosses.crossed_ids(model.cross_codes(rows))[:, 0]
    combos = rows["cat"][:, device] * 100 + rows["num_bkt"][:, hour - spec.n_fields]
    assert len(set(zip(ids.tolist(), combos.tolist()))) == len(set(combos.tolist())) == len(set(ids.tolist()))
    with torch.no_grad():
        model.crosses.weights.weight.normal_()
        views = model.eval().interactions(rows)
    crossed = views["pairs:wide_crosses"]
    assert crossed.shape == (len(model.interaction_names()),) * 2 and crossed[device, hour] > 0
    assert crossed.sum() == 2 * crossed[device, hour]
