"""The searched vocabulary options: ``min_count`` (rare values share the OOV row) and the
quotient-remainder ``tail`` of large fields, from the encoded counts to scoring new rows and export."""

from __future__ import annotations

import numpy as np
import onnxruntime
import pandas as pd
import pytest
import torch
from synth import history_ctr_data, planted_rating_data

from automl.data.demo import demo_frame
from automl.data.infer_schema import infer_schema
from automl.data.validate import label_vector
from automl.evaluation.calibration import Platt
from automl.features.encode import EncodingOptions, encode, encode_categorical
from automl.features.splits import make_split
from automl.serving.export import Exported, graph_inputs, to_onnx
from automl.serving.score import Member
from automl.training.fit import train_and_evaluate
from models import REGISTRY
from models.card import search_options
from models.layers.embeddings import vocabulary
from models.layers.embeddings.embedding import FieldEmbedding
from models.layers.embeddings.vocabulary import (
    NARROW_FROM,
    CodeRows,
    FieldLayout,
    Vocabulary,
    layout,
    narrow_width,
)
from models.layers.sequence.behavior import behavior_vectors
from models.spec import MIN_COUNTS, DataSpec, FieldInfo


def test_the_encoding_counts_the_values_seen_at_least_each_min_count():
    values = pd.Series(list("aaaaaaaaaabbbbbcccdde"))          # a 10, b 5, c 3, d 2, e 1
    _, code, frequent = encode_categorical(values, np.ones(len(values), bool), EncodingOptions())
    assert code.values == list("abcde")
    assert frequent == tuple(sum(n >= m for n in (10, 5, 3, 2, 1)) for m in MIN_COUNTS) == (5, 4, 2, 1)


def spec_of(*fields: FieldInfo) -> DataSpec:
    return DataSpec(task="ctr", fields=fields, numeric=(), buckets=())


def test_the_defaults_keep_the_one_gather_of_codes_plus_offsets():
    spec = spec_of(FieldInfo("a", 11, frequent=(10, 6, 3, 1)), FieldInfo("b", 5, frequent=(4, 4, 1, 0)))
    embedding = FieldEmbedding(spec, 4)
    assert embedding.rows.identity and embedding.table.num_embeddings == 16
    codes = torch.tensor([[3, 2], [10, 4]])
    assert torch.equal(embedding({"cat": codes, "num": torch.zeros(2, 0)}),
                       embedding.table.weight[codes + torch.tensor([0, 11])])


def test_values_seen_fewer_than_min_count_times_read_the_oov_row():
    spec = spec_of(FieldInfo("a", 11, frequent=(10, 6, 3, 1)), FieldInfo("b", 5, frequent=(4, 4, 1, 0)))
    embedding = FieldEmbedding(spec, 4, vocab=Vocabulary(min_count=5))
    assert embedding.table.num_embeddings == (1 + 3) + (1 + 1)
    codes = torch.tensor([[0, 0], [1, 1], [3, 2], [4, 4], [10, 3]])
    out = embedding({"cat": codes, "num": torch.zeros(5, 0)})
    for row in (3, 4):                                   # codes past frequent[2] (5 or more sightings) are OOV
        assert torch.equal(out[row, 0], out[0, 0]) and torch.equal(out[row, 1], out[0, 1])
    assert torch.equal(out[2, 0], embedding.table.weight[3]) and torch.equal(out[2, 1], out[0, 1])
    assert torch.equal(out[1, 1], embedding.table.weight[4 + 1])


def test_a_compressed_tail_gives_every_kept_value_its_own_pair_of_rows(monkeypatch):
    monkeypatch.setattr(vocabulary, "QR_ROWS", 4)
    info = FieldInfo("big", 31, frequent=(30, 25, 10, 3))
    lay = layout(info, Vocabulary(min_count=2, compress=True))
    assert lay == FieldLayout(head=4, tail=21) and (lay.modulus, lay.quotients) == (5, 5)
    assert lay.rows == 1 + 4 + 5 + 5
    rows = CodeRows([lay], [31])
    table = torch.nn.Embedding(rows.n_rows, 3)
    codes = torch.arange(31).unsqueeze(1)                     # [31, 1]
    out = rows.lookup(table, codes)[:, 0]
    weight = table.weight
    assert torch.equal(out[:5], weight[:5])                   # the OOV row and the 4 most frequent: own rows
    for code in range(5, 26):                                 # the kept tail: a quotient row plus a remainder row
        t = code - 5
        assert torch.allclose(out[code], weight[5 + t // 5] + weight[10 + t % 5])
    assert all(torch.equal(out[code], weight[0]) for code in range(26, 31))     # seen once: OOV
    pairs = {(t // 5, t % 5) for t in range(21)}
    assert len(pairs) == 21


def test_small_fields_and_buckets_are_never_cut(monkeypatch):
    monkeypatch.setattr(vocabulary, "QR_ROWS", 4)
    spec = DataSpec(task="ctr", fields=(FieldInfo("small", 4, frequent=(3, 1, 0, 0)),),
                    buckets=(FieldInfo("x (bucket)", 12),), numeric=("x",))
    embedding = FieldEmbedding(spec, 2, use_buckets=True, vocab=Vocabulary(min_count=2, compress=True))
    assert embedding.table.num_embeddings == (1 + 1) + 12


def test_narrow_widths_shrink_with_the_fourth_root_of_the_values():
    assert narrow_width(NARROW_FROM, 16) == 16 and narrow_width(NARROW_FROM * 16, 16) == 8
    assert narrow_width(NARROW_FROM * 256, 16) == 4 and narrow_width(10**9, 16) == 2 and narrow_width(10**9, 1) == 1


def test_mixed_widths_project_each_narrow_field_to_k(monkeypatch):
    monkeypatch.setattr(vocabulary, "NARROW_FROM", 10)
    spec = DataSpec(task="ctr", fields=(FieldInfo("big", 200, frequent=(199, 120, 50, 30)),
                                        FieldInfo("small", 6, frequent=(5, 5, 4, 2)),
                                        FieldInfo("bigger", 2000, frequent=(1999, 900, 300, 100))),
                    buckets=(FieldInfo("x (bucket)", 12),), numeric=("x",))
    embedding = FieldEmbedding(spec, 8, use_buckets=True, vocab=Vocabulary(mixed=True))
    widths = {g.table.embedding_dim: g.columns for g in embedding.narrow}
    assert widths == {4: [0], 2: [2]} and embedding.wide == [1, 3]        # 8 (10/199)^¼ ≈ 3.8, 8 (10/1999)^¼ ≈ 2.1
    assert embedding.table.num_embeddings == 6 + 12
    codes = torch.tensor([[7, 2, 1500, 4], [0, 5, 3, 11]])
    batch = {"cat": codes[:, :3], "num_bkt": codes[:, 3:], "num": torch.zeros(2, 1)}
    out = embedding(batch)
    assert out.shape == (2, 4, 8)
    big = embedding.narrow[1]                                  # width 4: the field "big"
    assert torch.allclose(out[:, 0], big.table.weight[codes[:, 0]] @ big.projection[0], atol=1e-6)
    assert torch.equal(out[:, 1], embedding.table.weight[codes[:, 1]])
    assert torch.equal(out[:, 3], embedding.table.weight[codes[:, 3] + 6])
    assert torch.allclose(embedding.lookup(codes[:, [2, 0]], [2, 0]), out[:, [2, 0]], atol=1e-6)


def test_the_search_offers_min_count_with_counts_and_the_tail_only_past_qr_rows(monkeypatch):
    data = rare_data()
    options = search_options(REGISTRY["deepfm"], data.spec)
    assert options["min_count"]["choices"] == list(MIN_COUNTS) and options["tail"]["choices"] == ["own"]
    assert options["embedding_dims"]["choices"] == ["same"]
    monkeypatch.setattr("models.common.QR_ROWS", 1000)        # the tag field has 1,333 values
    monkeypatch.setattr("models.common.NARROW_FROM", 1000)
    for name in ("deepfm", "mf", "two_tower"):
        assert search_options(REGISTRY[name], data.spec)["tail"]["choices"] == ["own", "quotient_remainder"]
    assert search_options(REGISTRY["deepfm"], data.spec)["embedding_dims"]["choices"] == ["same", "by_frequency"]
    assert search_options(REGISTRY["lr"], data.spec)["embedding_dims"]["choices"] == ["same"]
    assert "embedding_dims" not in search_options(REGISTRY["mf"], data.spec)
    old = data.spec.__class__(**{**data.spec.__dict__, "fields": tuple(
        FieldInfo(f.name, f.cardinality, f.side) for f in data.spec.fields)})
    assert "min_count" not in search_options(REGISTRY["deepfm"], old)         # a spec encoded before the counts


def rare_frame(n: int = 4000) -> pd.DataFrame:
    """The demo log with a ``tag`` column of a few common and many rare values (half seen once or twice)."""
    frame = demo_frame(n_rows=n, n_users=150, n_items=300, seed=5).drop(columns=["timestamp"])
    rng = np.random.default_rng(1)
    common = rng.integers(0, 20, n)
    frame["tag"] = np.where(rng.random(n) < 0.5, [f"c{v}" for v in common], [f"r{v}" for v in rng.integers(0, n, n)])
    return frame


def encoded(frame: pd.DataFrame):
    """(the encoded data, the split assignment: 0 train, 1 val, 2 test)."""
    schema = infer_schema(frame)
    assignment, _ = make_split(label_vector(frame, schema), schema.task, None)
    return encode(frame, schema, assignment), assignment


def as_batch(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(v) for k, v in arrays.items()}


def rare_data():
    return encoded(rare_frame())[0]


@pytest.mark.parametrize("name", ["fm", "deepfm"])
def test_a_model_with_cut_vocabularies_scores_new_rows_and_exports_as_it_trained(name, monkeypatch, tmp_path):
    monkeypatch.setattr(vocabulary, "QR_ROWS", 60)        # the item and tag fields get a compressed tail
    monkeypatch.setattr(vocabulary, "NARROW_FROM", 100)   # and narrower embeddings
    frame = rare_frame()
    data, assignment = encoded(frame)
    params = {**REGISTRY[name].defaults, "min_count": 2, "tail": "quotient_remainder", "lr": 1e-2,
              "embedding_dims": "by_frequency"}
    outcome = train_and_evaluate(REGISTRY[name], params, data, metric="auc", max_epochs=3)
    model = outcome.model.eval()
    assert all(not g.rows.identity and g.rows.compressed for g in model.embedding.narrow)
    assert outcome.test["auc"] > 0.55
    rows = frame[assignment == 2].reset_index(drop=True)
    arrays, _ = data.encoder.apply(rows)
    counts = frame["tag"][assignment == 0].value_counts()
    once = rows["tag"].map(counts).eq(1).to_numpy()
    twice = rows["tag"].map(counts).ge(2).to_numpy() & rows["tag"].str.startswith("r").to_numpy()
    assert once.sum() > 20 and twice.sum() > 5
    unseen, _ = data.encoder.apply(rows.assign(tag="never-seen"))
    with torch.no_grad():
        # the encoder gives new rows the codes the training split got: the model's outputs are the same
        assert torch.allclose(model(as_batch(arrays)), model(data.splits["test"]), atol=1e-6)
        scored, oov = model(as_batch(arrays)), model(as_batch(unseen))
    # a value seen once in training reads the OOV row, as an unseen value does; one seen twice does not
    assert torch.allclose(scored[once], oov[once], atol=1e-6)
    assert not torch.allclose(scored[twice], oov[twice], atol=1e-4)
    keys = ["cat", "num", "num_bkt"]
    to_onnx(Member(name, 0, model, Platt(1.0, 0.0)), "ctr", keys, {k: v[:16] for k, v in data.splits["test"].items()},
            tmp_path / "model.onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {k: arrays[k] for k in graph_inputs(session)})[0]
    with torch.no_grad():
        expected = Exported(model, keys, "ctr", 1.0, 0.0)(*(as_batch(arrays)[k] for k in keys)).numpy()
    assert np.allclose(got, expected, atol=1e-5)


def test_a_history_model_reads_past_items_from_the_candidates_tables(monkeypatch):
    monkeypatch.setattr(vocabulary, "NARROW_FROM", 30)
    monkeypatch.setattr(vocabulary, "QR_ROWS", 40)
    data = history_ctr_data()
    card = REGISTRY["din"]
    params = {**card.defaults, "min_count": 2, "tail": "quotient_remainder", "embedding_dims": "by_frequency"}
    model = card.build(data.spec, params)
    assert model.embedding.narrow
    batch = {k: v[:64] for k, v in data.splits["train"].items()}
    index = list(data.spec.history.field_index)
    _, steps, _ = behavior_vectors(model.embedding, batch, data.spec.history)
    past = torch.stack([batch[f"hist{a}"] for a in range(len(index))], dim=-1)       # [B, L, A]
    as_candidates = model.embedding({**batch, "cat": replaced(batch["cat"], index, past[:, 0])})[:, index]
    assert torch.allclose(steps[:, 0], as_candidates.flatten(1), atol=1e-6)
    outcome = train_and_evaluate(card, params, data, metric="auc", max_epochs=1)
    assert np.isfinite(outcome.outputs["test"]).all()


def replaced(cat: torch.Tensor, columns: list[int], codes: torch.Tensor) -> torch.Tensor:
    """``cat`` [B, F] with ``columns`` set to ``codes`` [B, len(columns)]."""
    out = cat.clone()
    out[:, columns] = codes
    return out


def test_matrix_factorization_trains_with_cut_vocabularies(monkeypatch):
    monkeypatch.setattr(vocabulary, "QR_ROWS", 20)
    data = planted_rating_data()
    card = REGISTRY["mf"]
    params = {**card.defaults, "min_count": 5, "tail": "quotient_remainder"}
    outcome = train_and_evaluate(card, params, data, metric="rmse", max_epochs=2)
    rows = outcome.model.factors.rows
    assert not rows.identity and rows.compressed and np.isfinite(outcome.test["rmse"])
