"""DRN's Q-network (``models.drn``): the state never sees the item, the action sees the user only
through the cross term, the dueling form moves Q with the item only through A, odd specs build,
and a planted user x item interaction is learned."""

from __future__ import annotations

import pytest
import torch

from models import REGISTRY
from models.drn import DRN
from models.spec import DataSpec, FieldInfo, HistoryInfo, SequenceInfo

CARD = REGISTRY["drn"]
SMALL = {"embed_dim": 8, "state_tower": "64", "action_tower": "64", "out_dim": 16, "hidden": "64",
         "dropout": 0.0, "l2": 0.0}
B = 64

FIELDS = (FieldInfo("user_id", 30, "user"), FieldInfo("item_id", 40, "item"), FieldInfo("item_cat", 6, "item"),
          FieldInfo("user_seg", 5, "user"), FieldInfo("device", 4, "context"))
SPEC = DataSpec(task="ctr", fields=FIELDS, numeric=("x", "x is missing"), buckets=(FieldInfo("x (bucket)", 5),),
                user_field=0, item_field=1, label_mean=0.3)
HISTORY_SPEC = DataSpec(task="ctr", fields=FIELDS, numeric=(), buckets=(), user_field=0, item_field=1,
                        label_mean=0.3, history=HistoryInfo(5, (1, 2), 8, "test"))
USER, ITEM, CONTEXT = [0, 3], [1, 2], [4]


def random_batch(spec: DataSpec, rows: int = B, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    batch = {"cat": torch.stack([torch.randint(1, f.cardinality, (rows,), generator=g) for f in spec.fields], 1)
             if spec.fields else torch.zeros(rows, 0, dtype=torch.long),
             "num": torch.randn(rows, len(spec.numeric), generator=g),
             "num_bkt": torch.stack([torch.randint(0, b.cardinality, (rows,), generator=g) for b in spec.buckets], 1)
             if spec.buckets else torch.zeros(rows, 0, dtype=torch.long),
             "label": torch.randint(0, 2, (rows,), generator=g).float()}
    for j, s in enumerate(spec.sequences):
        batch[f"seq{j}"] = torch.randint(0, s.cardinality, (rows, s.max_len), generator=g)
    if spec.history is not None:
        steps = spec.history.max_len
        lengths = torch.randint(0, steps + 1, (rows,), generator=g)
        real = torch.arange(steps) < lengths.unsqueeze(1)
        for a, j in enumerate(spec.history.field_index):
            batch[f"hist{a}"] = torch.randint(1, spec.fields[j].cardinality, (rows, steps), generator=g) * real
        batch["hist_len"] = lengths
        batch["hist_age"] = torch.randint(1, spec.history.n_age_buckets, (rows, steps), generator=g) * real
    return batch


def model(spec: DataSpec = SPEC, **options) -> DRN:
    torch.manual_seed(0)
    built = CARD.build(spec, {**CARD.defaults, **SMALL, **options}).eval()
    with torch.no_grad():                    # embeddings at a scale where changes show above float noise
        built.embedding.table.weight.normal_()
    return built


def with_columns(batch: dict[str, torch.Tensor], columns: list[int], seed: int = 1) -> dict[str, torch.Tensor]:
    """``batch`` with the ``columns`` of ``cat`` redrawn (each value moved to another valid code)."""
    cat = batch["cat"].clone()
    g = torch.Generator().manual_seed(seed)
    for j in columns:
        cardinality = FIELDS[j].cardinality
        cat[:, j] = (cat[:, j] - 1 + torch.randint(1, cardinality - 1, (len(cat),), generator=g)) % (cardinality - 1) + 1
    assert (cat[:, columns] != batch["cat"][:, columns]).all()
    return {**batch, "cat": cat}


def changed(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Every row differs."""
    return bool(((a - b).abs().reshape(len(a), -1).amax(1) > 1e-6).all())


@pytest.mark.parametrize("dueling", [False, True])
@pytest.mark.parametrize("spec", [SPEC, HISTORY_SPEC], ids=["numeric", "history"])
def test_q_is_one_finite_logit_per_row_and_the_sum_of_value_and_advantage(spec, dueling):
    net, batch = model(spec, dueling=dueling), random_batch(spec)
    with torch.no_grad():
        q = net(batch)
        state, action = net.towers(batch)
        parts = net.value(state) + net.advantage(state, action)
    assert q.shape == (B,) and torch.isfinite(q).all()
    torch.testing.assert_close(q, parts)
    assert state.shape == action.shape == (B, SMALL["out_dim"])
    assert (net.value_head is not None) == dueling


def test_the_output_bias_starts_at_the_training_rate_logit():
    net = CARD.build(SPEC, {**CARD.defaults, **SMALL})
    assert net.bias.item() == pytest.approx(torch.logit(torch.tensor(0.3)).item(), rel=1e-5)


@pytest.mark.parametrize("dueling", [False, True])
def test_the_state_ignores_the_item_side_fields_and_reads_user_context_and_numerics(dueling):
    net, batch = model(dueling=dueling), random_batch(SPEC)
    with torch.no_grad():
        state = net.state_vector(batch)
        torch.testing.assert_close(net.state_vector(with_columns(batch, ITEM)), state)
        assert changed(net.state_vector(with_columns(batch, [0])), state)
        assert changed(net.state_vector(with_columns(batch, CONTEXT)), state)
        assert changed(net.state_vector({**batch, "num": batch["num"] + 1}), state)


@pytest.mark.parametrize("attribute,cardinality", [(0, 40), (1, 6)], ids=["item id", "category"])
def test_each_history_attribute_enters_the_state_and_the_action_cross(attribute, cardinality):
    """The history (item id and category per step) is pooled into the state and crossed with the
    candidate's own id / category in the action; an empty history pools to 0 either way."""
    net, batch = model(HISTORY_SPEC), random_batch(HISTORY_SPEC)
    assert net.history_cross == [0, 1]
    key = f"hist{attribute}"
    steps = batch[key].clone()                           # the first step's value moved to another
    steps[:, 0] = torch.where(steps[:, 0] > 0, steps[:, 0] % (cardinality - 1) + 1, 0)
    shifted = {**batch, key: steps}
    with torch.no_grad():
        (state, action), (state2, action2) = net.towers(batch), net.towers(shifted)
        torch.testing.assert_close(net.state_vector(with_columns(batch, ITEM)), state)
    has_history = batch["hist_len"] > 0
    assert has_history.any() and (~has_history).any()
    assert torch.equal((state2 - state).abs().amax(1) > 1e-6, has_history)
    assert torch.equal((action2 - action).abs().amax(1) > 1e-6, has_history)


def test_the_action_reads_the_item_and_the_user_only_through_the_cross_term():
    net, batch = model(), random_batch(SPEC)
    with torch.no_grad():
        action = net.action_vector(batch)
        assert changed(net.action_vector(with_columns(batch, ITEM)), action)
        assert changed(net.action_vector(with_columns(batch, USER)), action)          # via the cross term
        torch.testing.assert_close(net.action_vector(with_columns(batch, CONTEXT)), action)
        torch.testing.assert_close(net.action_vector({**batch, "num": batch["num"] + 1}), action)
    # the cross term is the only user path: with the user pool's embeddings equal for every user
    # value the cross term can still differ by item, but no longer by user
    with torch.no_grad():
        table, offsets = net.embedding.table.weight, net.embedding.offsets
        for j in USER:
            table[offsets[j]:offsets[j] + FIELDS[j].cardinality] = table[offsets[j]]
        torch.testing.assert_close(net.action_vector(with_columns(batch, USER)), net.action_vector(batch))


def test_with_dueling_an_item_change_moves_q_only_through_the_advantage():
    net, batch = model(dueling=True), random_batch(SPEC)
    other = with_columns(batch, ITEM)                    # same states, other items
    with torch.no_grad():
        (s1, a1), (s2, a2) = net.towers(batch), net.towers(other)
        torch.testing.assert_close(s1, s2)
        torch.testing.assert_close(net.value(s1), net.value(s2))
        dq = net(other) - net(batch)
        torch.testing.assert_close(dq, net.advantage(s2, a2) - net.advantage(s1, a1))
        assert changed(dq, torch.zeros_like(dq))
        users = with_columns(batch, [0])                 # another state: V moves too
        assert changed(net.value(net.state_vector(users)), net.value(s1))


def test_without_dueling_the_value_is_the_bias_alone():
    net, batch = model(dueling=False), random_batch(SPEC)
    with torch.no_grad():
        value = net.value(net.state_vector(batch))
    torch.testing.assert_close(value, net.bias.detach().expand(B))


ODD_SPECS = {
    "no item side": DataSpec(task="ctr", fields=(FieldInfo("u", 9, "user"), FieldInfo("c1", 5), FieldInfo("c2", 4)),
                             numeric=(), buckets=(), user_field=0, label_mean=0.4),
    "all context": DataSpec(task="ctr", fields=(FieldInfo("c1", 5), FieldInfo("c2", 4)), numeric=("x",),
                            buckets=(FieldInfo("x (bucket)", 4),), label_mean=0.4),
    "numeric only": DataSpec(task="ctr", fields=(), numeric=("x", "y"), buckets=(FieldInfo("x (bucket)", 4),
                                                                                  FieldInfo("y (bucket)", 4)),
                             label_mean=0.4),
    "user only": DataSpec(task="ctr", fields=(FieldInfo("u", 9, "user"),), numeric=(), buckets=(), user_field=0,
                          label_mean=0.4),
    "item only": DataSpec(task="ctr", fields=(FieldInfo("i", 9, "item"),), numeric=(), buckets=(), item_field=0,
                          label_mean=0.4),
    "sequence only": DataSpec(task="ctr", fields=(), numeric=(), buckets=(), sequences=(SequenceInfo("s", 7, 4),),
                              label_mean=0.4),
}


@pytest.mark.parametrize("dueling", [False, True])
@pytest.mark.parametrize("numeric_mode", ["raw", "both"])
@pytest.mark.parametrize("name", list(ODD_SPECS))
def test_odd_specs_build_run_and_train(name, numeric_mode, dueling):
    spec = ODD_SPECS[name]
    net = CARD.build(spec, {**CARD.defaults, **SMALL, "numeric_mode": numeric_mode, "dueling": dueling})
    batch = random_batch(spec)
    out = net(batch)
    assert out.shape == (B,) and torch.isfinite(out).all()
    torch.nn.functional.binary_cross_entropy_with_logits(out, batch["label"]).backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


def test_without_item_side_fields_the_non_user_fields_are_the_action():
    spec = ODD_SPECS["no item side"]
    net = model(spec)
    assert (net.user_rows, net.item_rows, net.context_rows) == ([0], [1, 2], []) and net.cross
    batch = random_batch(spec)
    cat = batch["cat"].clone()
    cat[:, 1] = cat[:, 1] % 4 + 1
    with torch.no_grad():
        torch.testing.assert_close(net.state_vector({**batch, "cat": cat}), net.state_vector(batch))
        assert changed(net.action_vector({**batch, "cat": cat}), net.action_vector(batch))


@pytest.mark.parametrize("dueling", [False, True])
def test_exports_to_onnx_with_a_dynamic_batch_and_a_history(dueling, tmp_path):
    """The graph traced on 16 rows scores 300 (a constant-folded shape would pin the batch)."""
    onnxruntime = pytest.importorskip("onnxruntime")
    from synth import history_ctr_data

    from automl.serving.export import Exported, graph_feed, graph_inputs, to_onnx
    from automl.serving.score import Member

    data = history_ctr_data()
    val = data.splits["val"]
    keys = [k for k in val if k != "label"]
    torch.manual_seed(0)
    net = CARD.build(data.spec, {**CARD.defaults, "dueling": dueling}).eval()
    to_onnx(Member("drn", 0, net, None), "ctr", keys, {k: v[:16] for k, v in val.items()}, tmp_path / "m.onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    assert {"hist0", "hist1", "hist_len"} <= set(graph_inputs(session))
    rows = {k: v[:300].numpy() for k, v in val.items()}
    with torch.no_grad():
        expected = Exported(net, keys, "ctr")(*(torch.from_numpy(rows[k]) for k in keys)).numpy()
    got = session.run(None, graph_feed(rows, graph_inputs(session)))[0]
    assert got.shape == (300,) and abs(got - expected).max() < 1e-5


def auc(scores: torch.Tensor, labels: torch.Tensor) -> float:
    ranks = torch.empty_like(scores)
    ranks[scores.argsort()] = torch.arange(1, len(scores) + 1, dtype=scores.dtype)
    positives = labels.bool()
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@pytest.mark.parametrize("dueling", [False, True])
def test_learns_a_planted_user_item_interaction(dueling, one_thread):
    """Clicks depend only on whether the user's and the item's hidden signs agree: every user and
    every item clicks half the time, so only the user x item interaction tells the label."""
    spec = DataSpec(task="ctr", fields=(FieldInfo("user_id", 21, "user"), FieldInfo("item_id", 21, "item")),
                    numeric=(), buckets=(), user_field=0, item_field=1, label_mean=0.5)
    g = torch.Generator().manual_seed(0)
    user_sign, item_sign = torch.randint(0, 2, (21,), generator=g) * 2 - 1, torch.randint(0, 2, (21,), generator=g) * 2 - 1
    rows = 6000
    cat = torch.stack([torch.randint(1, 21, (rows,), generator=g), torch.randint(1, 21, (rows,), generator=g)], 1)
    p = torch.sigmoid(2.5 * (user_sign[cat[:, 0]] * item_sign[cat[:, 1]]).float())
    labels = (torch.rand(rows, generator=g) < p).float()
    data = {"cat": cat, "num": torch.zeros(rows, 0), "num_bkt": torch.zeros(rows, 0, dtype=torch.long),
            "label": labels}
    train = {k: v[:5000] for k, v in data.items()}
    test = {k: v[5000:] for k, v in data.items()}
    torch.manual_seed(0)
    net = CARD.build(spec, {**CARD.defaults, **SMALL, "dueling": dueling})
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    net.train()
    for step in range(300):
        index = torch.randint(0, 5000, (256,), generator=g)
        batch = {k: v[index] for k, v in train.items()}
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(batch), batch["label"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    net.eval()
    with torch.no_grad():
        score = auc(net(test), test["label"])
    assert score > 0.8, score                           # chance 0.5; the planted signs give ~0.9
