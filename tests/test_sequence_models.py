"""DIN, DIEN and BST: padding invariance, the attention GRU formulas, DIEN's auxiliary loss, and
history beating no history on data where the click depends on the recent history."""

from __future__ import annotations

import pytest
import torch
from synth import history_ctr_data

from automl.training.fit import train_and_evaluate
from models import REGISTRY
from models.layers.sequence.attention_gru import AttentionGRU
from models.spec import DataSpec, FieldInfo, HistoryInfo

N_ITEMS, N_CATS = 30, 6
SPEC = DataSpec(
    task="ctr",
    fields=(FieldInfo("user", 20, "user"), FieldInfo("item", N_ITEMS, "item"), FieldInfo("cat", N_CATS, "item"),
            FieldInfo("device", 4)),
    numeric=("price",), buckets=(FieldInfo("price (bucket)", 5),), user_field=0, item_field=1,
    has_timestamp=True, label_mean=0.3, history=HistoryInfo(9, (1, 2), 16, "test"),
)
SMALL = {"embed_dim": 4, "hidden": "16", "dropout": 0.0, "lr": 0.01, "batch_size": 32}
VARIANTS = [("din", {}), ("din", {"pooling": "sum"}), ("din", {"interaction": "outer", "normalization": "softmax",
                                                             "activation": "prelu"}),
            ("dien", {"evolving": "augru"}), ("dien", {"evolving": "agru"}), ("dien", {"evolving": "aigru"}),
            ("bst", {"heads": 2}), ("bst", {"heads": 2, "position": "position", "blocks": 2})]


def padded_batches(n: int = 12, short: int = 5, long: int = 9, seed: int = 0) -> tuple[dict, dict]:
    """The same rows with histories padded to ``short`` and to ``long`` steps; the extra padding
    holds random codes and ages, which the models must ignore."""
    g = torch.Generator().manual_seed(seed)
    cards = [f.cardinality for f in SPEC.fields]
    base = {"cat": torch.stack([torch.randint(1, c, (n,), generator=g) for c in cards], 1),
            "num": torch.randn(n, 1, generator=g), "num_bkt": torch.randint(0, 5, (n, 1), generator=g),
            "label": torch.zeros(n), "hist_len": torch.randint(0, short + 1, (n,), generator=g)}
    mask = torch.arange(long) < base["hist_len"].unsqueeze(1)
    noise = {"hist0": torch.randint(1, N_ITEMS, (n, long), generator=g),
             "hist1": torch.randint(1, N_CATS, (n, long), generator=g),
             "hist_age": torch.randint(1, 16, (n, long), generator=g)}
    real = {k: torch.where(mask, v, 0) for k, v in noise.items()}
    garbage = {k: torch.where(mask, v, torch.randint(1, 4, v.shape, generator=g)) for k, v in noise.items()}
    return {**base, **{k: v[:, :short] for k, v in real.items()}}, {**base, **garbage}


@pytest.mark.parametrize("name,options", VARIANTS)
def test_padding_does_not_change_the_output(name, options):
    torch.manual_seed(0)
    model = REGISTRY[name].build(SPEC, {**REGISTRY[name].defaults, **SMALL, **options}).eval()
    short, long = padded_batches()
    with torch.no_grad():
        torch.testing.assert_close(model(short), model(long), atol=1e-5, rtol=1e-5)
        weights = model.interactions(long)["history_attention"]
    assert weights.shape == (12, 9)
    assert (weights[torch.arange(9) >= long["hist_len"].unsqueeze(1)] == 0).all()


def hand_gru(cell: AttentionGRU, x, h, a):
    """The gates of ``cell`` computed from its weights, one row at a time in plain algebra."""
    w, b, u_w = cell.x_proj.weight, cell.x_proj.bias, cell.h_proj.weight
    x_part = (a * x if cell.mode == "aigru" else x) @ w.T + b           # [W_u x + b_u, W_r x + b_r, W_h x + b_h]
    h_part = h @ u_w.T
    size = cell.hidden
    u = torch.sigmoid(x_part[:, :size] + h_part[:, :size])
    r = torch.sigmoid(x_part[:, size:2 * size] + h_part[:, size:2 * size])
    h_tilde = torch.tanh(x_part[:, 2 * size:] + r * h_part[:, 2 * size:])
    return u, h_tilde


@pytest.mark.parametrize("mode", ["gru", "aigru", "agru", "augru"])
def test_attention_gru_updates_match_the_paper_formulas(mode):
    torch.manual_seed(0)
    cell = AttentionGRU(3, 4, mode)
    x, h, a = torch.randn(5, 3), torch.randn(5, 4), torch.rand(5, 1)
    u, h_tilde = hand_gru(cell, x, h, a)
    expected = {
        "gru": (1 - u) * h + u * h_tilde,
        "aigru": (1 - u) * h + u * h_tilde,                  # hand_gru already scaled the input by a
        "agru": (1 - a) * h + a * h_tilde,
        "augru": (1 - a * u) * h + a * u * h_tilde,
    }[mode]
    x_in = a * x if mode == "aigru" else x
    torch.testing.assert_close(cell.step(cell.x_proj(x_in), h, a), expected)
    # and through forward, with a zero start state and one real step for every row
    steps = x.unsqueeze(1)
    _, final = cell(steps, torch.ones(5, 1, dtype=torch.bool), a if mode != "gru" else None)
    u0, h0_tilde = hand_gru(cell, x, torch.zeros(5, 4), a)
    gate = {"agru": a, "augru": a * u0}.get(mode, u0)
    torch.testing.assert_close(final, gate * h0_tilde)


def dien_aux_loss_after_training(predictable: bool, steps: int = 80) -> float:
    torch.manual_seed(0)
    model = REGISTRY["dien"].build(SPEC, {**REGISTRY["dien"].defaults, **SMALL, "l2": 0.0, "aux_weight": 1.0})
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    batch, _ = padded_batches(n=64, short=9, long=9, seed=1)
    batch["hist_len"] = torch.full((64,), 9)
    start = torch.randint(1, N_ITEMS, (64, 1))
    if predictable:                                       # the next item is always the previous + 1
        batch["hist0"] = (start + torch.arange(9)) % (N_ITEMS - 1) + 1
    else:
        batch["hist0"] = torch.randint(1, N_ITEMS, (64, 9))
    batch["hist1"] = batch["hist0"] % (N_CATS - 1) + 1
    losses = []
    for _ in range(steps):
        model(batch)
        loss = model.aux_loss()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return sum(losses[-10:]) / 10


def test_dien_auxiliary_loss_falls_when_the_next_behavior_is_predictable():
    predictable, random = dien_aux_loss_after_training(True), dien_aux_loss_after_training(False)
    assert predictable < 0.6 * random, (predictable, random)


def test_aux_loss_is_only_added_in_training_and_zero_weight_turns_it_off():
    short, _ = padded_batches()
    params = {**REGISTRY["dien"].defaults, **SMALL, "l2": 0.0}
    model = REGISTRY["dien"].build(SPEC, params)
    model.eval()(short)
    assert model.aux_loss() is None
    model.train()(short)
    assert model.aux_loss() is not None
    off = REGISTRY["dien"].build(SPEC, {**params, "aux_weight": 0.0}).train()
    off(short)
    assert off.aux_loss() is None


def test_din_beats_its_sum_pooling_base_model_which_beats_deepfm_without_history():
    data = history_ctr_data()
    small = {"embed_dim": 8, "hidden": "64", "dropout": 0.0, "batch_norm": False, "lr": 0.03, "batch_size": 256}
    auc = {}
    for label, name, options in [("din", "din", {}), ("base", "din", {"pooling": "sum"}), ("deepfm", "deepfm", {})]:
        params = {**REGISTRY[name].defaults, **small, **options}
        auc[label] = train_and_evaluate(REGISTRY[name], params, data, metric="auc", max_epochs=10, patience=3,
                                        seed=0).test["auc"]
    assert auc["din"] > auc["base"] and auc["base"] > auc["deepfm"] + 0.02, auc


@pytest.mark.parametrize("activation", ["dice", "prelu"])
def test_dins_final_mlp_uses_its_activation_option(activation):
    card = REGISTRY["din"]
    model = card.build(SPEC, {**card.defaults, **SMALL, "activation": activation})
    final = [type(m).__name__ for m in model.dnn.modules()]
    assert ("Dice" in final) == (activation == "dice") and ("PReLU" in final) == (activation == "prelu")


def test_bst_feeds_every_positions_output_newest_first_or_the_candidates_alone():
    card = REGISTRY["bst"]
    short, long = padded_batches()
    widths = {}
    for output in ("all", "candidate"):
        torch.manual_seed(0)
        model = card.build(SPEC, {**card.defaults, **SMALL, "heads": 2, "output": output}).eval()
        with torch.no_grad():
            interest, _ = model.pooled(short)
            widths[output] = interest.shape[1]
            assert torch.allclose(interest, model.pooled(long)[0], atol=1e-6)   # padding changes nothing
            assert torch.allclose(model(short), model(long), atol=1e-6)
    assert widths["all"] == widths["candidate"] * (SPEC.history.max_len + 1)
