"""Export: every neural card becomes an ONNX graph whose outputs equal the torch model's (the
calibration folded in)."""

from __future__ import annotations

import numpy as np
import onnxruntime
import pytest
import torch
from synth import planted_ctr_data

from automl.evaluation.calibration import Platt
from automl.serving.export import Exported, graph_inputs, to_onnx
from automl.serving.score import Member
from models import REGISTRY
from models.card import ModelKind

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
