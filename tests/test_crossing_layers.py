"""Each crossing operator against a loop over its paper's formula, on small random tensors."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from models.layers.attention.attention_pooling import AttentionPairPooling
from models.layers.attention.self_attention import InteractingLayer
from models.layers.blocks.residual import ResidualUnit
from models.layers.interactions.cin import CIN
from models.layers.interactions.cross import CrossLayer, CrossNetwork
from models.layers.interactions.fm import bi_interaction
from models.layers.interactions.inner_product import inner_products
from models.layers.interactions.outer_product import OuterProduct
from models.layers.interactions.pairs import pair_index, pair_matrix
from models.layers.interactions.sum_outer_product import SumOuterProduct

B, F, K = 3, 4, 5


@pytest.fixture
def emb() -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randn(B, F, K)


def pairs(n: int = F) -> list[tuple[int, int]]:
    return [(i, j) for i in range(n) for j in range(i + 1, n)]


def randomize(module: torch.nn.Module) -> torch.nn.Module:
    """Random parameters, so identity-like initializations cannot hide a wrong formula."""
    with torch.no_grad():
        for p in module.parameters():
            p.normal_()
    return module


def test_pair_order_is_row_major_upper_triangle():
    rows, cols = pair_index(F)
    assert list(zip(rows.tolist(), cols.tolist())) == pairs()
    matrix = pair_matrix(torch.arange(1.0, 7.0), F)
    for p, (i, j) in enumerate(pairs()):
        assert matrix[i, j] == matrix[j, i] == p + 1
    assert torch.all(matrix.diagonal() == 0)


def test_inner_products(emb):
    expected = torch.stack([(emb[:, i] * emb[:, j]).sum(-1) for i, j in pairs()], dim=1)
    assert_close(inner_products(emb), expected)


def test_bi_interaction(emb):
    expected = sum(emb[:, i] * emb[:, j] for i, j in pairs())
    assert_close(bi_interaction(emb), expected)


@pytest.mark.parametrize("kernel", ["mat", "vec", "num"])
def test_outer_product_kernels(emb, kernel):
    layer = randomize(OuterProduct(F, K, kernel))
    w = layer.kernel
    expected = torch.zeros(B, len(pairs()))
    for b in range(B):
        for p, (i, j) in enumerate(pairs()):
            for a in range(K):
                for c in range(K):
                    if kernel == "mat":
                        weight = w[p, a, c]
                    else:
                        weight = (w[p, a] if kernel == "vec" else w[p]) * (a == c)
                    expected[b, p] += emb[b, i, a] * weight * emb[b, j, c]
    assert_close(layer(emb), expected)


def test_outer_product_starts_as_inner_product(emb):
    for kernel in ("mat", "vec", "num"):
        assert_close(OuterProduct(F, K, kernel)(emb), inner_products(emb))


def test_sum_outer_product(emb):
    layer = SumOuterProduct(K, 6)
    expected = torch.zeros(B, 6)
    for b in range(B):
        total = sum(emb[b, i] for i in range(F))
        outer = torch.outer(total, total)
        for n in range(6):
            expected[b, n] = (layer.kernels[n] * outer).sum()
    assert_close(layer(emb), expected)


def test_attention_pair_pooling(emb):
    layer = AttentionPairPooling(K, 7)
    w, bias, h = layer.project.weight, layer.project.bias, layer.h.weight[0]
    scores = torch.stack([
        torch.stack([h @ torch.relu(w @ (emb[b, i] * emb[b, j]) + bias) for i, j in pairs()]) for b in range(B)
    ])
    weights = torch.exp(scores) / torch.exp(scores).sum(1, keepdim=True)
    pooled = torch.stack([
        sum(weights[b, p] * emb[b, i] * emb[b, j] for p, (i, j) in enumerate(pairs())) for b in range(B)
    ])
    got_pooled, got_weights = layer(emb)
    assert_close(got_weights, weights)
    assert_close(got_pooled, pooled)


def test_residual_unit():
    torch.manual_seed(1)
    x = torch.randn(B, 6)
    unit = ResidualUnit(6, 4)
    w1, b1, w2, b2 = unit.inner.weight, unit.inner.bias, unit.outer.weight, unit.outer.bias
    expected = torch.stack([torch.relu(x[b] + w2 @ torch.relu(w1 @ x[b] + b1) + b2) for b in range(B)])
    assert_close(unit(x), expected)


@pytest.mark.parametrize("rank", [None, 2])
def test_cross_layer(rank):
    torch.manual_seed(2)
    x0, xl = torch.randn(B, 6), torch.randn(B, 6)
    layer = CrossLayer(6, rank)
    if rank is None:
        w, bias = layer.weight.weight, layer.weight.bias
    else:
        v, u = layer.weight[0].weight.T, layer.weight[1].weight     # V^T x = first map; U = second
        w, bias = u @ v.T, layer.weight[1].bias
        assert torch.linalg.matrix_rank(w) == rank
    expected = torch.stack([
        torch.stack([x0[b, d] * (sum(w[d, e] * xl[b, e] for e in range(6)) + bias[d]) + xl[b, d] for d in range(6)])
        for b in range(B)
    ])
    assert_close(layer(x0, xl), expected)


def test_cross_network_crosses_every_layer_with_x0():
    torch.manual_seed(3)
    x0 = torch.randn(B, 6)
    net = CrossNetwork(6, 3, rank=2)
    x = x0
    for layer in net.layers:
        x = layer(x0, x)
    assert_close(net(x0), x)


@pytest.mark.parametrize("residual", [True, False])
def test_interacting_layer(emb, residual):
    heads, d = 2, 3
    layer = InteractingLayer(K, d, heads, residual)
    wq, wk, wv = layer.qkv.weight.view(3, heads, d, K)
    out = torch.zeros(B, F, heads * d)
    maps = torch.zeros(B, heads, F, F)
    for b in range(B):
        for h in range(heads):
            q, k, v = emb[b] @ wq[h].T, emb[b] @ wk[h].T, emb[b] @ wv[h].T
            for m in range(F):
                scores = torch.stack([q[m] @ k[j] for j in range(F)])
                maps[b, h, m] = torch.exp(scores) / torch.exp(scores).sum()
                out[b, m, h * d:(h + 1) * d] = sum(maps[b, h, m, j] * v[j] for j in range(F))
        if residual:
            out[b] += emb[b] @ layer.residual.weight.T
    got, attention = layer(emb)
    assert_close(attention, maps)
    assert_close(got, torch.relu(out))


@pytest.mark.parametrize("split_half", [False, True])
def test_cin(emb, split_half):
    sizes = (4, 2)
    cin = CIN(F, sizes, split_half)
    x0, x, pooled = emb, emb, []
    for depth, (layer, size) in enumerate(zip(cin.layers, sizes)):
        w = layer.weight.view(size, x.shape[1], F)
        maps = torch.zeros(B, size, K)
        for h in range(size):
            for i in range(x.shape[1]):
                for j in range(F):
                    maps[:, h] += w[h, i, j] * x[:, i] * x0[:, j]
        half = split_half and depth < len(sizes) - 1
        x, kept = (maps[:, : size // 2], maps[:, size // 2:]) if half else (maps, maps)
        pooled.append(kept.sum(-1))
    expected = torch.cat(pooled, dim=1)
    assert cin.out_dim == expected.shape[1] == (4 if split_half else 6)
    assert_close(cin(emb), expected)


def test_cin_rejects_odd_split():
    with pytest.raises(ValueError):
        CIN(F, (3, 2), split_half=True)
