"""Training data over the device's budget: the splits stay in host memory and stream to the device
batch by batch. On the CPU a small ``CROSSBOARD_DEVICE_MEMORY_MB`` forces that path (the host gathers
each batch, the copy to the device is a no-op), and it must train exactly as resident data does."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from synth import planted_ctr_data, planted_rating_data
from test_reliability import tiny_study

from automl.diagnostics.agnostic import DEFAULT_SETTINGS
from automl.diagnostics.trial import diagnose
from automl.errors import SettingsError
from automl.search.data import placed
from automl.training import device
from automl.training.device import (
    FREE_SHARE,
    MEMORY_SETTING,
    batches,
    data_budget,
    gpu_budget,
    host_rows,
    sharers,
    worker_devices,
)
from automl.training.fit import train_and_evaluate
from automl.training.loop import STREAM_NOTE
from models import REGISTRY

CPU = torch.device("cpu")
CASES = [("lr", "ctr"), ("deepfm", "ctr"), ("autorec", "rating")]   # AutoRec keeps its own training_data


def fit(name: str, data, seed: int = 3):
    card = REGISTRY[name]
    params = {**card.defaults, "batch_size": 256, "lr": 0.01}
    return train_and_evaluate(card, params, data, metric="auc" if data.spec.task == "ctr" else "rmse",
                              max_epochs=2, patience=5, seed=seed)


def test_the_budget_is_the_setting_else_everything_on_the_cpu(monkeypatch):
    monkeypatch.delenv(MEMORY_SETTING, raising=False)
    assert data_budget(CPU) == math.inf
    monkeypatch.setenv(MEMORY_SETTING, "2000")
    assert data_budget(CPU) == 2e9
    monkeypatch.setenv(MEMORY_SETTING, "two gigabytes")
    with pytest.raises(SettingsError, match=MEMORY_SETTING):
        data_budget(CPU)


def test_workers_sharing_a_gpu_get_equal_budgets_whenever_they_load():
    total = 80e9
    assert sharers(worker_devices(3, n_gpus=2)) == [2, 1, 2] and sharers([None, None]) == [2, 2]
    first = gpu_budget(free=total, total=total, sharers=2)
    second = gpu_budget(free=total - first - 5e9, total=total, sharers=2)   # the first's data and model on it
    assert first == second == FREE_SHARE * total / 2
    assert gpu_budget(free=10e9, total=total, sharers=2) == FREE_SHARE * 10e9        # never past what is free
    assert gpu_budget(free=total, total=total) == FREE_SHARE * total                 # alone: half of it


def test_the_training_split_streams_first_then_all_of_them(capsys):
    data = planted_ctr_data()
    assert data.to(CPU).streamed == () and data.to(CPU).streams_to("train") is None
    just_train = placed(data, CPU, data.nbytes(("val", "test")))
    assert just_train.streamed == ("train",) and just_train.streams_to("train") == CPU
    assert just_train.streams_to("val") is None and just_train.device == CPU
    assert capsys.readouterr().err.startswith("training rows stream from host memory: ")
    assert placed(data, CPU, 0).streamed == ("train", "val", "test")
    assert "training, validation and test rows" in capsys.readouterr().err


def test_streamed_batches_are_the_resident_ones():
    rows = planted_ctr_data().splits["val"]
    perm = torch.randperm(len(rows["label"]), generator=torch.Generator().manual_seed(0))
    picks = [perm[:300], perm[300:600], slice(600, 900), slice(900, None)]
    for here, streamed in zip(batches(rows, picks), batches(rows, picks, CPU), strict=True):
        assert here.keys() == streamed.keys() and all(torch.equal(here[k], streamed[k]) for k in here)
    assert list(batches(rows, [], CPU)) == []


@pytest.mark.parametrize("name,task", CASES)
@pytest.mark.parametrize("streamed", [("train",), ("train", "val", "test")])
def test_streaming_trains_exactly_as_resident_data(name, task, streamed, one_thread, monkeypatch):
    data = planted_ctr_data(3000) if task == "ctr" else planted_rating_data()
    budget = data.nbytes(("val", "test")) if streamed == ("train",) else 0
    host = data.to(CPU, budget)
    assert host.streamed == streamed
    gathered = []
    monkeypatch.setattr(device, "host_rows", lambda *args: gathered.append(args[1]) or host_rows(*args))
    resident = fit(name, data)
    assert not gathered
    streaming = fit(name, host)
    assert any(isinstance(p, torch.Tensor) for p in gathered)            # training batches gathered on the host
    assert any(isinstance(p, slice) for p in gathered) == (streamed != ("train",))   # and prediction chunks
    assert streaming.history == [{**h, "seconds": s["seconds"]} for h, s in zip(resident.history, streaming.history,
                                                                             strict=True)]
    assert streaming.val == resident.val and streaming.test == resident.test
    assert streaming.state_dict.keys() == resident.state_dict.keys()
    assert all(torch.equal(streaming.state_dict[k], resident.state_dict[k]) for k in resident.state_dict)
    assert all(np.array_equal(streaming.outputs[k], resident.outputs[k]) for k in resident.outputs)
    assert streaming.notes.pop(STREAM_NOTE) == round(data.nbytes(streamed) / 1e9, 3)
    assert streaming.notes == resident.notes


def test_a_study_over_its_budget_streams_in_every_trial(home, monkeypatch, capsys):
    from automl.search.worker import run_worker

    monkeypatch.setenv(MEMORY_SETTING, "0.001")          # 1 kB: nothing fits
    store, study = tiny_study(home, ["lr", "deepfm"], 2, "streamed")
    assert run_worker(store, study.id, home) == 0
    assert "rows stream from host memory" in capsys.readouterr().err
    results = store.results(study.id)
    assert [r.state for r in results] == ["COMPLETE", "COMPLETE"]
    assert all(STREAM_NOTE in r.extra_json for r in results)


def test_diagnostics_of_streamed_splits_are_those_of_resident_ones():
    data = planted_ctr_data()
    model = fit("deepfm", data).model
    settings = replace(DEFAULT_SETTINGS, repeats=1)
    resident, streamed = diagnose(model, data, settings), diagnose(model, placed(data, CPU, 0), settings)
    assert [p["fields"] for p in streamed["pairs"]] == [p["fields"] for p in resident["pairs"]]
    assert np.allclose([p["strength"] for p in streamed["pairs"]], [p["strength"] for p in resident["pairs"]])
    assert streamed["intrinsic"].keys() == resident["intrinsic"].keys()
