"""The GPU path's logic, checked on the CPU: local workers spread over the visible GPUs, a study's
device against a worker's own, a CUDA out-of-memory error that fails one trial, frees the device and
lets the worker go on (injected), and bfloat16 autocast in the training step."""

from __future__ import annotations

import numpy as np
import torch
from synth import planted_ctr_data
from test_reliability import tiny_study

from automl.search import control
from automl.search.worker import worker_device
from automl.training.device import bf16_available, worker_devices
from automl.training.loop import loss_function, make_optimizers, train_epoch
from models import REGISTRY


def test_workers_are_spread_over_the_gpus():
    assert worker_devices(4, n_gpus=2) == ["cuda:0", "cuda:1", "cuda:0", "cuda:1"]
    assert worker_devices(2, n_gpus=3) == ["cuda:0", "cuda:1"]                    # one per GPU
    assert worker_devices(3, n_gpus=0) == [None, None, None]                      # no GPU: the CPU
    assert worker_device("cpu", worker_devices(1, n_gpus=4)[0]) == torch.device("cpu")   # the study chose
    assert worker_device("cuda:3", "cuda:0") == torch.device("cuda:3")


def test_launched_workers_get_their_device(tmp_path, monkeypatch):
    started = []

    class Recorder:
        def __init__(self, args, **kwargs):
            started.append(args)
            self.pid = len(started)

        def wait(self):                 # launch_workers waits for each worker in a thread
            return 0

    monkeypatch.setattr(control.subprocess, "Popen", Recorder)
    control.launch_workers("sqlite:///x.db", 7, tmp_path, 3, devices=worker_devices(3, n_gpus=2))
    assert [args[-2:] for args in started] == [["--device", "cuda:0"], ["--device", "cuda:1"],
                                                ["--device", "cuda:0"]]
    started.clear()
    control.launch_workers("sqlite:///x.db", 7, tmp_path, 2, devices=[None, None])
    assert all("--device" not in args for args in started)


def test_the_study_device_wins_over_the_worker_flag_unless_it_is_open():
    assert worker_device(None, "cuda:1") == torch.device("cuda:1")
    assert worker_device("cuda", "cuda:1") == torch.device("cuda:1")
    assert worker_device("cpu", "cuda:1") == torch.device("cpu")
    assert worker_device(None, None) == torch.device("cuda" if torch.cuda.is_available() else "cpu")


def test_an_out_of_memory_trial_fails_frees_the_device_and_the_worker_goes_on(home, monkeypatch):
    from automl.search import objective
    from automl.search.worker import run_worker

    real, calls, released = objective.train_and_evaluate, [], []

    def once_out_of_memory(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(*args, **kwargs)

    monkeypatch.setattr(objective, "train_and_evaluate", once_out_of_memory)
    monkeypatch.setattr(objective, "release_memory", lambda device, error: released.append((device, error)))
    store, study = tiny_study(home, ["lr"], 4, "oom")
    assert run_worker(store, study.id, home) == 0
    results = sorted(store.results(study.id), key=lambda r: r.trial_number)
    assert [r.state for r in results] == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    assert results[1].reason.startswith("out of device memory; try a smaller batch size")
    assert len(released) == 1 and isinstance(released[0][1], torch.OutOfMemoryError)
    assert all("precision" not in r.params_json for r in results)     # bf16 is offered on CUDA only
    assert not bf16_available(torch.device("cpu"))


def test_bf16_autocast_trains_with_fp32_weights():
    data = planted_ctr_data()
    card = REGISTRY["deepfm"]
    params = {**card.defaults, "batch_size": 512}
    torch.manual_seed(0)
    model = card.build(data.spec, params)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loss = train_epoch(model, make_optimizers(model, params), loss_function("ctr"), data.splits["train"], 512,
                       precision="bf16")
    assert torch.isfinite(torch.tensor(loss)) and 0 < loss < 2
    assert all(v.dtype == before[k].dtype for k, v in model.state_dict().items())    # weights stay fp32
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_inference_chunks_are_sized_by_the_models_activations():
    from automl.training.predict import MIN_CHUNK, PREDICT_BATCH, chunk_rows, predict

    data = planted_ctr_data()
    val = data.splits["val"]
    small = REGISTRY["lr"].build(data.spec, REGISTRY["lr"].defaults)
    wide = REGISTRY["xdeepfm"].build(data.spec, {**REGISTRY["xdeepfm"].defaults, "cin_layers": "200-200-200"})
    lean, heavy = chunk_rows(small.eval(), val), chunk_rows(wide.eval(), val)
    assert lean == PREDICT_BATCH and MIN_CHUNK <= heavy < lean
    whole = predict(wide, val, batch_size=len(val["label"]))
    assert np.allclose(predict(wide, val), whole, rtol=1e-5, atol=1e-6)        # chunking changes nothing
