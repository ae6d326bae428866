"""The restructured AFM, AutoInt and CIN computations (issue 15's slow three) against the explicit
forms they replaced: the same outputs and the same gradients, in float64 on a tiny batch."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch.testing import assert_close

from models.layers.attention.attention_pooling import AttentionPairPooling
from models.layers.attention.self_attention import InteractingLayer
from models.layers.interactions.cin import CIN
from models.layers.interactions.pairs import n_pairs, weighted_pair_sum

B, F, K = 3, 5, 4


def grads(output: torch.Tensor, inputs: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """d <output, fixed random weights> / d inputs (the graph kept: a test differentiates two
    outputs that share part of it)."""
    weights = torch.randn(output.shape, generator=torch.Generator().manual_seed(7), dtype=output.dtype)
    return torch.autograd.grad((output * weights).sum(), inputs, retain_graph=True)


@pytest.fixture
def emb() -> torch.Tensor:
    return torch.randn(B, F, K, generator=torch.Generator().manual_seed(0), dtype=torch.float64, requires_grad=True)


def test_weighted_pair_sum_is_the_explicit_sum_over_pairs(emb):
    weights = torch.rand(B, n_pairs(F), dtype=torch.float64, requires_grad=True)
    explicit = sum(weights[:, p, None] * emb[:, i] * emb[:, j]
                   for p, (i, j) in enumerate(itertools.combinations(range(F), 2)))
    got = weighted_pair_sum(emb, weights)
    assert_close(got, explicit)
    assert_close(grads(got, [emb, weights]), grads(explicit, [emb, weights]))


def test_attention_pair_pooling_gradients_match_the_broadcast_form(emb):
    layer = AttentionPairPooling(K, 3).double()
    pooled, weights = layer(emb)
    rows, cols = zip(*itertools.combinations(range(F), 2))
    pairs = emb[:, list(rows)] * emb[:, list(cols)]                              # [B, P, k]
    explicit = (weights.unsqueeze(-1) * pairs).sum(1)
    params = [emb, *layer.parameters()]
    assert_close(grads(pooled, params), grads(explicit, params))


@pytest.mark.parametrize("residual", [True, False])
@pytest.mark.parametrize("attention_dim", [3, 1])               # d_in = 4 <= 2 d' (bilinear form), and not
def test_interacting_layer_matches_separate_projections(emb, residual, attention_dim):
    layer = InteractingLayer(K, attention_dim, 2, residual).double()
    assert layer.bilinear == (attention_dim == 3)
    got, attention = layer(emb)
    q, k, v = (emb @ w.T for w in layer.qkv.weight.chunk(3))                     # each [B, F, H d']
    maps = [torch.softmax(qh @ kh.transpose(1, 2), -1) for qh, kh in zip(q.chunk(2, -1), k.chunk(2, -1))]
    heads = [a @ vh for a, vh in zip(maps, v.chunk(2, -1))]
    explicit = torch.cat(heads, -1) + (layer.residual(emb) if residual else 0)
    params = [emb, *layer.parameters()]
    assert_close(got, torch.relu(explicit))
    assert_close(attention, torch.stack(maps, 1))
    assert_close(grads(got, params), grads(torch.relu(explicit), params))


@pytest.mark.parametrize(("sizes", "split_half"), [((6, 4), True), ((6, 4, 2), False)])
def test_cin_matches_the_broadcast_product_form(emb, sizes, split_half):
    cin = CIN(F, sizes, split_half).double()
    x0 = emb.transpose(1, 2)
    x, pooled = x0, []
    for layer, halve in zip(cin.layers, cin.halve):
        maps = layer((x.unsqueeze(3) * x0.unsqueeze(2)).flatten(2))             # [B, k, H_l]
        x, out = maps.chunk(2, dim=2) if halve else (maps, maps)
        pooled.append(out.sum(1))
    explicit = torch.cat(pooled, 1)
    params = [emb, *cin.parameters()]
    got = cin(emb)
    assert_close(got, explicit)
    assert_close(grads(got, params), grads(explicit, params))
