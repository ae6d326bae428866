"""Export: every neural card becomes an ONNX graph whose outputs equal the torch model's (the
calibration folded in)."""

from __future__ import annotations

import numpy as np
import onnxruntime
import pytest
import torch
from synth import planted_ctr_data

from automl.evaluation.calibration import Platt
from automl.serving.export import Exported, exportable, graph_feed, graph_inputs, to_onnx, trees_to_onnx
from automl.serving.score import Member
from automl.training.fit import train_and_evaluate
from models import REGISTRY
from models.card import ModelKind
from models.gbdt import GradientBoosting

CASES = [name for name, card in REGISTRY.items()
         if card.kind is ModelKind.TORCH and "ctr" in card.tasks and card.requires <= {"fields", "user", "item"}]


@pytest.mark.parametrize("name", CASES)
def test_the_onnx_graph_gives_the_torch_models_calibrated_outputs(name, tmp_path):
    data = planted_ctr_data()
    card = REGISTRY[name]
    torch.manual_seed(0)
    model = card.build(data.spec, dict(card.defaults)).eval()
    member = Member(name, 0, model, Platt(1.3, -0.2))
    keys = ["cat", "num", "num_bkt"]
    val = data.splits["val"]
    to_onnx(member, "ctr", keys, {k: v[:16] for k, v in val.items()}, tmp_path / "model.onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    rows = {k: v[:300].numpy() for k, v in val.items()}                 # another batch size than the example's
    got = session.run(None, {k: rows[k] for k in graph_inputs(session)})[0]
    with torch.no_grad():
        expected = Exported(model, keys, "ctr", 1.3, -0.2)(*(torch.from_numpy(rows[k]) for k in keys)).numpy()
    assert got.shape == (300,) and np.allclose(got, expected, atol=1e-5)
    assert np.allclose(expected, 1 / (1 + np.exp(-(1.3 * member.model(val_batch(rows)).detach().numpy() - 0.2))),
                       atol=1e-6)


def val_batch(rows: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(v) for k, v in rows.items()}


def test_lightgbm_trees_export_with_the_calibration_as_graph_nodes(tmp_path):
    data = planted_ctr_data()
    card = REGISTRY["gbdt"]
    outcome = train_and_evaluate(card, dict(card.defaults), data, metric="auc", max_epochs=3, patience=1)
    member = Member("gbdt", 0, outcome.model, Platt(0.8, 0.3))
    width = data.spec.n_fields + data.splits["val"]["num"].shape[1]
    trees_to_onnx(member, "ctr", width, tmp_path / "model.onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    rows = {k: v.numpy() for k, v in data.splits["test"].items()}
    got = session.run(None, graph_feed(rows, graph_inputs(session)))[0]
    expected = 1 / (1 + np.exp(-(0.8 * outcome.model.predict(GradientBoosting.features(rows)) + 0.3)))
    assert got.shape == (len(expected),) and np.allclose(got, expected, atol=1e-5)


def test_a_baseline_says_why_it_cannot_export():
    assert "nothing fitted" in exportable(Member("pop", 0, None, None))


@pytest.mark.parametrize("name", ["deepfm", "autoint"])
def test_a_model_with_a_sequence_field_exports_its_padded_token_input(name, tmp_path):
    from test_scoring import rich_frame

    from automl.data import datasets
    from automl.features.encode import encode
    from automl.features.splits import make_split

    frame = rich_frame(1500)
    schema = datasets.inspect(frame.to_csv(index=False).encode(), "rich.csv").schema
    data = encode(frame, schema, make_split(frame["click"].to_numpy(), "ctr", None)[0])
    keys = ["cat", "num", "num_bkt", "seq0"]
    torch.manual_seed(0)
    model = REGISTRY[name].build(data.spec, dict(REGISTRY[name].defaults)).eval()
    val = data.splits["val"]
    to_onnx(Member(name, 0, model, None), "ctr", keys, {k: v[:16] for k, v in val.items()}, tmp_path / "m.onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    assert "seq0" in graph_inputs(session)
    rows = {k: v.numpy() for k, v in val.items()}
    with torch.no_grad():
        expected = Exported(model, keys, "ctr")(*(torch.from_numpy(rows[k]) for k in keys)).numpy()
    assert np.allclose(session.run(None, graph_feed(rows, graph_inputs(session)))[0], expected, atol=1e-5)


@pytest.mark.parametrize("name", ["din", "dien", "bst"])
def test_a_history_model_exports_its_padded_history_inputs(name, tmp_path):
    from synth import history_ctr_data

    data = history_ctr_data()
    val = data.splits["val"]
    keys = [k for k in val if k != "label"]
    torch.manual_seed(0)
    model = REGISTRY[name].build(data.spec, dict(REGISTRY[name].defaults)).eval()
    to_onnx(Member(name, 0, model, Platt(0.9, 0.1)), "ctr", keys, {k: v[:16] for k, v in val.items()},
            tmp_path / "m.onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    assert {"hist0", "hist_len"} <= set(graph_inputs(session))
    rows = {k: v[:300].numpy() for k, v in val.items()}
    with torch.no_grad():
        expected = Exported(model, keys, "ctr", 0.9, 0.1)(*(torch.from_numpy(rows[k]) for k in keys)).numpy()
    assert np.allclose(session.run(None, graph_feed(rows, graph_inputs(session)))[0], expected, atol=1e-5)
