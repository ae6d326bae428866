"""The models' own interaction views (``RecModel.interactions``, ``interaction_names``) follow one
contract: [F, F] pair matrices over schema column names (symmetric, >= 0, zero diagonal),
history weights that sum to 1 over the real steps, wide and deep logits that add up to the
output; and calling the hook in eval mode changes no buffer and no pending penalty or aux loss."""

from __future__ import annotations

import itertools

import pytest
import torch
from synth import history_ctr_data, planted_ctr_data

from models import REGISTRY
from models.layers.blocks.stacking import stack
from models.layers.interactions.fm import fm_interaction
from models.layers.sequence.behavior import history_mask
from models.spec import DataSpec, FieldInfo

ROWS = 256
FIELDS = ["user_id", "item_id", "item_category", "user_segment", "age_group", "device", "hour"]
NUMERIC = ["price"]                    # "price is missing" and its bucket map back to it

PAIR_CASES = {
    "fm": ("fm", {}, "fm"),
    "fm-bucketize": ("fm", {"numeric_mode": "bucketize"}, "fm"),
    "deepfm-both": ("deepfm", {"numeric_mode": "both"}, "fm"),
    "nfm": ("nfm", {}, "bi_interaction"),
    "nfm-0": ("nfm", {"hidden_layers": 0, "batch_norm": False}, "bi_interaction"),
    "afm": ("afm", {"attention_l2": 1e-3}, "afm"),
    "pnn-inner": ("pnn", {"product": "inner"}, "products"),
    "pnn-outer": ("pnn", {"product": "outer", "opnn_sum_pooling": False, "kernel": "mat"}, "products"),
    "pnn-both": ("pnn", {"product": "both", "opnn_sum_pooling": False, "kernel": "vec"}, "products"),
    "pnn-both-sum-pooled": ("pnn", {"product": "both", "opnn_sum_pooling": True}, "products"),
    "autoint": ("autoint", {"numeric_mode": "bucketize"}, "attention"),
    "dcnv2-full-both": ("dcnv2", {"rank": "full", "numeric_mode": "both"}, "cross_weights"),
    "dcnv2-low-raw": ("dcnv2", {"rank": "8", "numeric_mode": "raw"}, "cross_weights"),
    "wide_deep": ("wide_deep", {"n_crosses": 3}, "wide_crosses"),
}
HISTORY_CASES = {
    "din": ("din", {}),
    "din-softmax": ("din", {"normalization": "softmax", "activation": "prelu"}),
    "din-sum": ("din", {"pooling": "sum"}),
    "dien": ("dien", {}),
    "bst": ("bst", {}),
    "bst-all": ("bst", {"output": "all", "position": "position"}),
}


def build(name: str, data, options: dict):
    """The card's defaults plus ``options``, after a few Adam steps (so zero-initialised parts such
    as the wide crosses move), then one training forward that leaves a pending penalty / aux loss;
    returned in eval mode."""
    torch.manual_seed(0)
    card = REGISTRY[name]
    model = card.build(data.spec, {**card.defaults, **options})
    train = data.splits["train"]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for step in range(4):
        batch = {k: v[step * ROWS:(step + 1) * ROWS] for k, v in train.items()}
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(batch), batch["label"])
        aux = model.aux_loss()
        optimizer.zero_grad()
        (loss if aux is None else loss + aux).backward()
        optimizer.step()
    with torch.no_grad():
        model(batch)
    return model.eval()


def val_rows(data) -> dict[str, torch.Tensor]:
    return {k: v[:ROWS] for k, v in data.splits["val"].items()}


def varied_history(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``batch`` with row r's history cut to its first r mod (L + 1) steps (the late validation
    rows nearly all have full histories): empty histories and padding in every position."""
    steps = batch["hist0"].shape[1]
    lengths = torch.minimum(batch["hist_len"], torch.arange(len(batch["hist_len"])) % (steps + 1))
    keep = history_mask(lengths, steps)
    cut = {k: torch.where(keep, v, 0) for k, v in batch.items() if k.startswith("hist") and k != "hist_len"}
    return {**batch, **cut, "hist_len": lengths}


def pending(model) -> dict:
    """Every module's ``penalty`` and DIEN's stored next-behavior loss."""
    out = {name: m.penalty for name, m in model.named_modules() if hasattr(m, "penalty")}
    if hasattr(model, "next_loss"):
        out["next_loss"] = model.next_loss
    return out


def hook(model, batch) -> dict[str, torch.Tensor]:
    """``model.interactions(batch)`` as the diagnostics call it, asserting it has no side effect."""
    state = {k: v.clone() for k, v in model.state_dict().items()}
    before = pending(model)
    with torch.no_grad():
        views = model.interactions(batch)
    after = model.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in state.items())
    assert pending(model).keys() == before.keys()
    assert all(pending(model)[k] is v for k, v in before.items())
    assert not any(m.training for m in model.modules())
    return views


def assert_pair_matrix(matrix: torch.Tensor, n: int):
    assert matrix.shape == (n, n) and matrix.dtype.is_floating_point
    assert torch.isfinite(matrix).all() and (matrix >= 0).all()
    assert torch.equal(matrix, matrix.T)
    assert (matrix.diagonal() == 0).all()
    assert matrix.sum() > 0


@pytest.mark.parametrize("case", PAIR_CASES)
def test_pair_matrices_follow_the_contract(case):
    name, options, method = PAIR_CASES[case]
    data = planted_ctr_data()
    model = build(name, data, options)
    views = hook(model, val_rows(data))
    names = model.interaction_names()
    numeric_enter = options.get("numeric_mode", "raw") != "raw" or name == "dcnv2"
    assert names == FIELDS + (NUMERIC if numeric_enter else [])
    assert {k for k in views if k.startswith("pairs:")} == {f"pairs:{method}"}
    assert_pair_matrix(views[f"pairs:{method}"], len(names))


def test_sum_pooled_outer_pnn_has_no_pairs():
    data = planted_ctr_data()
    model = build("pnn", data, {"product": "outer", "opnn_sum_pooling": True})
    assert hook(model, val_rows(data)) == {}


def test_wide_crosses_sit_on_the_crossed_pairs_only():
    data = planted_ctr_data()
    model = build("wide_deep", data, {"n_crosses": 2})
    matrix = hook(model, val_rows(data))["pairs:wide_crosses"]
    crossed = {tuple(p) for p in data.spec.ranked_pairs[:2]}
    assert {(i, j) for i, j in itertools.combinations(range(len(FIELDS)), 2) if matrix[i, j] > 0} == crossed


@pytest.mark.parametrize("name", ["deepfm", "wide_deep"])
def test_wide_and_deep_logits_add_up_to_the_output(name):
    """The global bias (the first-order part's) is inside ``wide_logit``; the deep head has none."""
    data = planted_ctr_data()
    model = build(name, data, {"numeric_mode": "both"})
    batch = val_rows(data)
    views = hook(model, batch)
    assert views["wide_logit"].shape == views["deep_logit"].shape == (ROWS,)
    with torch.no_grad():
        torch.testing.assert_close(views["wide_logit"] + views["deep_logit"], model(batch))
        if name == "deepfm":     # wide = linear + FM term
            wide = model.linear(batch) + fm_interaction(model.embedding(batch))
            torch.testing.assert_close(views["wide_logit"], wide)
    assert views["deep_logit"].std() > 0


@pytest.mark.parametrize("case", HISTORY_CASES)
def test_history_attention_is_a_distribution_over_the_real_steps(case):
    name, options = HISTORY_CASES[case]
    data = history_ctr_data()
    model = build(name, data, options)
    batch = varied_history(val_rows(data))
    if name == "dien":
        assert model.next_loss is not None        # a pending aux loss the hook must leave alone
        expected = model.embedding.penalty + model.next_loss
    weights = hook(model, batch)["history_attention"]
    real = history_mask(batch["hist_len"], batch["hist0"].shape[1])
    assert weights.shape == batch["hist0"].shape and (weights >= 0).all()
    assert (weights[~real] == 0).all()
    has_history = batch["hist_len"] > 0
    assert has_history.any() and (~has_history).any()
    torch.testing.assert_close(weights.sum(1)[has_history], torch.ones(int(has_history.sum())))
    assert (weights.sum(1)[~has_history] == 0).all()
    if name == "dien":
        torch.testing.assert_close(model.aux_loss(), expected)
        assert model.next_loss is None


# --- the pair strengths against hand computations -----------------------------------------------

TINY = DataSpec(task="ctr", fields=(FieldInfo("a", 3), FieldInfo("b", 4), FieldInfo("c", 2)),
                numeric=("x", "x is missing"), buckets=(FieldInfo("x (bucket)", 3),), label_mean=0.3)
TINY_BATCH = {"cat": torch.tensor([[1, 2, 1], [2, 3, 0], [1, 1, 1], [0, 3, 1]]),
              "num": torch.tensor([[0.5, 0.0], [-1.0, 0.0], [0.0, 1.0], [2.0, 0.0]]),
              "num_bkt": torch.tensor([[1], [2], [0], [2]]),
              "label": torch.tensor([1.0, 0.0, 1.0, 0.0])}


def tiny(name: str, options: dict):
    torch.manual_seed(1)
    card = REGISTRY[name]
    model = card.build(TINY, {**card.defaults, "embed_dim": 3, **options}).double().eval().requires_grad_(False)
    for p in model.parameters():
        torch.nn.init.normal_(p)
    return model


def batch_rows(model, batch) -> list[torch.Tensor]:
    """Each row's field vectors [F, k], looked up by hand in the shared table."""
    ids = torch.cat([batch["cat"], batch["num_bkt"]], 1) if model.embedding.use_buckets else batch["cat"]
    table = model.embedding.table.weight
    return [table[row + model.embedding.offsets] for row in ids]


def population_var(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return sum((v - mean) ** 2 for v in values) / len(values)


def test_fm_pairs_are_the_variance_of_each_pairs_dot_product():
    model = tiny("fm", {"numeric_mode": "both"})
    assert model.interaction_names() == ["a", "b", "c", "x"]
    with torch.no_grad():
        model.embedding.table.weight.copy_(torch.arange(model.embedding.table.weight.numel(),
                                                        dtype=torch.float64).view(-1, 3).sin())
    matrix = model.interactions(TINY_BATCH)["pairs:fm"]
    rows = batch_rows(model, TINY_BATCH)
    for i, j in itertools.permutations(range(4), 2):
        expected = population_var([float(e[i] @ e[j]) for e in rows])
        assert matrix[i, j].item() == pytest.approx(expected, rel=1e-9)
    assert (matrix.diagonal() == 0).all()


def test_afm_pairs_are_the_variance_of_each_pairs_logit_term():
    model = tiny("afm", {"dropout": 0.3, "attention_size": 5})
    matrix = model.interactions(TINY_BATCH)["pairs:afm"]
    project, h, p = model.attention.project, model.attention.h.weight[0], model.head.weight[0]
    pairs = list(itertools.combinations(range(3), 2))
    terms = {pair: [] for pair in pairs}
    for e in batch_rows(model, TINY_BATCH):
        products = [e[i] * e[j] for i, j in pairs]
        scores = torch.stack([h @ torch.relu(project.weight @ v + project.bias) for v in products])
        attention = torch.softmax(scores, 0)
        for pair, a, v in zip(pairs, attention, products, strict=True):
            terms[pair].append(float(a * (p @ v)))
    for (i, j), values in terms.items():
        assert matrix[i, j].item() == pytest.approx(population_var(values), rel=1e-9)
        assert matrix[j, i] == matrix[i, j]


def test_pnn_both_adds_the_inner_and_outer_responses_of_each_pair():
    """With the ``num`` kernel at its start (w = 1) the outer product equals the inner one, so a
    pair's response is <e_i, e_j> (W1[:, inner_ij] + W1[:, outer_ij])."""
    model = tiny("pnn", {"product": "both", "opnn_sum_pooling": False, "kernel": "num", "hidden": "7"})
    with torch.no_grad():
        model.outer.kernel.fill_(1.0)
    matrix = model.interactions(TINY_BATCH)["pairs:products"]
    weight, start = model.dnn.layers[0].weight, 3 * 3 + 2        # after stack(e, num): 3 fields x 3, 2 raw
    for p, (i, j) in enumerate(itertools.combinations(range(3), 2)):
        column = weight[:, start + p] + weight[:, start + 3 + p]
        expected = sum(abs(float(e[i] @ e[j])) for e in batch_rows(model, TINY_BATCH)) / 4 * column.norm()
        assert matrix[i, j].item() == pytest.approx(expected.item(), rel=1e-9)


@pytest.mark.parametrize("rank", ["full", "2"])
def test_dcnv2_pairs_are_block_norms_of_the_cross_weights(rank):
    """x0 = [e_a, e_b, e_c, e_x(bucket), x, x is missing]: "x" owns its bucket embedding and both raw columns;
    each block norm is weighted by the two blocks' root-mean-square norms in x0."""
    model = tiny("dcnv2", {"numeric_mode": "both", "rank": rank, "cross_layers": 2})
    assert model.interaction_names() == ["a", "b", "c", "x"]
    matrix = model.interactions(TINY_BATCH)["pairs:cross_weights"]
    blocks = {"a": [0, 1, 2], "b": [3, 4, 5], "c": [6, 7, 8], "x": [9, 10, 11, 12, 13]}
    for layer in model.cross.layers:
        x = torch.randn(5, 14, dtype=torch.float64)
        bias = layer.weight.bias if rank == "full" else layer.weight[1].bias
        torch.testing.assert_close(layer.weight(x) - bias, x @ layer.matrix().T)
    x0 = stack(model.embedding(TINY_BATCH), TINY_BATCH, model.use_raw)
    scale = {u: x0[:, cols].square().sum(1).mean().sqrt() for u, cols in blocks.items()}
    for (i, u), (j, v) in itertools.permutations(enumerate(blocks), 2):
        norm = sum(layer.matrix()[blocks[u]][:, blocks[v]].norm() + layer.matrix()[blocks[v]][:, blocks[u]].norm()
                   for layer in model.cross.layers) / 2
        assert matrix[i, j].item() == pytest.approx((norm * scale[u] * scale[v]).item(), rel=1e-6)
