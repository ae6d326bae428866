"""The skeleton models' math against explicit computations."""

from __future__ import annotations

import itertools

import torch

from models.afm import AFM_CARD
from models.deepfm import DEEPFM_CARD
from models.layers.embeddings.embedding import FieldEmbedding, FirstOrder
from models.layers.interactions.cross_product import CrossProductWeights
from models.layers.interactions.fm import bi_interaction, fm_interaction, pairwise_dots
from models.layers.penalty import Penalized
from models.linear import FM_CARD
from models.spec import DataSpec, FieldInfo, SequenceInfo
from models.wide_deep import WIDE_DEEP_CARD

SPEC = DataSpec(task="ctr", fields=(FieldInfo("a", 5), FieldInfo("b", 7), FieldInfo("c", 3)),
                numeric=("x", "y"), buckets=(FieldInfo("x (bucket)", 4), FieldInfo("y (bucket)", 4)),
                sequences=(SequenceInfo("tags", 6, 4),), label_mean=0.3, ranked_pairs=((0, 1), (1, 2)))


def batch(n: int = 16) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "cat": torch.stack([torch.randint(0, f.cardinality, (n,), generator=g) for f in SPEC.fields], 1),
        "num": torch.randn(n, 2, generator=g),
        "num_bkt": torch.randint(0, 4, (n, 2), generator=g),
        "seq0": torch.tensor([[1, 2, 0, 0], [3, 0, 0, 0], [0, 0, 0, 0], [5, 4, 3, 2]] * (n // 4)),
        "label": torch.randint(0, 2, (n,), generator=g).float(),
    }


def test_fm_interaction_equals_the_explicit_pairwise_sum():
    emb = torch.randn(4, 5, 3, dtype=torch.float64)
    explicit = sum((emb[:, i] * emb[:, j]).sum(-1) for i, j in itertools.combinations(range(5), 2))
    torch.testing.assert_close(fm_interaction(emb), explicit)
    pairs = sum(emb[:, i] * emb[:, j] for i, j in itertools.combinations(range(5), 2))
    torch.testing.assert_close(bi_interaction(emb), pairs)
    torch.testing.assert_close(pairwise_dots(emb)[:, 1, 3], (emb[:, 1] * emb[:, 3]).sum(-1))


def test_fm_model_is_linear_part_plus_pairwise_dots():
    torch.manual_seed(0)
    model = FM_CARD.build(SPEC, {**FM_CARD.defaults, "numeric_mode": "both", "embed_dim": 4})
    for p in model.parameters():
        torch.nn.init.normal_(p)
    b = batch()
    emb = model.embedding(b)
    assert emb.shape == (16, 3 + 2 + 1, 4)         # fields, buckets, pooled sequence
    explicit = model.linear(b) + sum((emb[:, i] * emb[:, j]).sum(-1) for i, j in itertools.combinations(range(6), 2))
    torch.testing.assert_close(model(b), explicit)


def test_field_embedding_pools_sequences_over_real_tokens_only():
    layer = FieldEmbedding(SPEC, 3)
    b = batch(4)
    pooled = layer(b)[:, -1]
    table = layer.sequences[0].weight
    torch.testing.assert_close(pooled[0], (table[1] + table[2]) / 2)
    torch.testing.assert_close(pooled[1], table[3])
    torch.testing.assert_close(pooled[2], torch.zeros(3))


def test_first_order_is_bias_plus_field_weights_plus_numeric_weights():
    layer = FirstOrder(SPEC, use_buckets=True, use_numeric=True, init_bias=0.5)
    torch.nn.init.normal_(layer.weights.table.weight)
    torch.nn.init.normal_(layer.weights.sequences[0].weight)
    b = batch(4)
    w, offsets = layer.weights.table.weight[:, 0], [0, 5, 12, 15, 19]
    ids = torch.cat([b["cat"], b["num_bkt"]], 1)
    expected = torch.full((4,), 0.5) + layer.numeric(b["num"]).squeeze(1)
    for f, offset in enumerate(offsets):
        expected = expected + w[ids[:, f] + offset]
    seq = layer.weights.sequences[0].weight[:, 0]
    expected = expected + torch.stack([(seq[r[r > 0]].mean() if (r > 0).any() else torch.tensor(0.0)) for r in b["seq0"]])
    torch.testing.assert_close(layer(b), expected)


def test_cross_product_gives_each_value_combination_its_own_weight():
    layer = CrossProductWeights([5, 7, 3], [(0, 1), (1, 2)])
    torch.nn.init.normal_(layer.weights.weight)
    cat = torch.tensor([[1, 2, 0], [1, 2, 1], [1, 3, 0]])
    ids = layer.crossed_ids(cat)
    assert ids[0, 0] == ids[1, 0] != ids[2, 0]              # (a, b) pairs: same, same, different
    assert len({int(i) for i in ids[:, 1]}) == 3
    assert ids[:, 1].min() >= 35                            # the second pair's weights start after the first's
    w = layer.weights.weight[:, 0]
    torch.testing.assert_close(layer(cat), w[ids[:, 0]] + w[ids[:, 1]])


def test_wide_and_deep_splits_wide_and_deep_parameters_and_sums_their_logits():
    params = {**WIDE_DEEP_CARD.defaults, "hidden": "64", "n_crosses": 2}
    model = WIDE_DEEP_CARD.build(SPEC, params)
    groups = model.parameter_groups()
    assert {id(p) for p in groups["wide"]} == {id(p) for p in [*model.wide.parameters(), *model.crosses.parameters()]}
    assert len(groups["wide"]) + len(groups["main"]) == len(list(model.parameters()))
    assert model.crosses.n_pairs == 2
    model.eval()
    b = batch()
    parts = model.interactions(b)
    torch.testing.assert_close(model(b), parts["wide_logit"] + parts["deep_logit"])


def test_deepfm_rating_starts_at_the_mean_rating():
    spec = DataSpec(task="rating", fields=SPEC.fields, numeric=SPEC.numeric, buckets=SPEC.buckets, label_mean=3.5)
    model = DEEPFM_CARD.build(spec, DEEPFM_CARD.defaults)
    assert float(model.linear.bias) == 3.5


def test_embedding_l2_penalty_counts_only_the_rows_looked_up():
    layer = FieldEmbedding(SPEC, 4, l2=0.1)
    b = batch()
    out = layer(b)
    torch.testing.assert_close(layer.penalty, 0.1 * out.pow(2).sum() / 16)


def test_the_training_loss_adds_every_penalized_layers_penalty_and_a_copy_drops_them():
    from automl.online.modes import clone

    model = AFM_CARD.build(SPEC, {**AFM_CARD.defaults, "l2": 0.1, "attention_l2": 0.01}).train()
    model(batch())
    pending = [m.penalty for m in model.modules() if isinstance(m, Penalized) and m.penalty is not None]
    assert len(pending) == 2                                   # the embedding's and the attention's
    torch.testing.assert_close(model.aux_loss(), pending[0] + pending[1])
    copied = clone(model)
    assert model.aux_loss() is None and copied.aux_loss() is None
    model.eval()(batch())
    assert model.aux_loss() is None                            # an eval pass leaves none
