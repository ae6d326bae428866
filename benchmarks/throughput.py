"""Training and inference throughput of DeepFM: CrossBoard's own training path against a
minimal hand-written PyTorch loop on the same tensors (and DeepCTR-Torch when installed).

    python benchmarks/throughput.py [--rows 500000] [--repeats 2] [--threads 2]
    python benchmarks/throughput.py --device cuda --rows 4000000 --batch 8192 [--precision bf16]

Prints one JSON object. Data: Criteo-like, 26 categorical fields with Zipf-distributed values
over vocabularies of 10..100,000 and 13 numeric fields, resident on ``--device``, or, on CrossBoard's
side, left in host memory and streamed to it batch by batch when they are over the device's data
budget (as a study's are; ``CROSSBOARD_DEVICE_MEMORY_MB=100`` forces it: "streamed" in the output;
the bare loop keeps resident data, the reference); DeepFM with
embedding 16, DNN 400-400-400, batch 4096 (``--batch``), Adam; CrossBoard's side optionally under
bf16 autocast (``--precision``, as a trial with that option). Each measurement is one full epoch
(the device synchronized before the clock stops); runs alternate between the implementations
and the best of ``--repeats`` is kept.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import time

import numpy as np
import torch
from torch import nn

from automl.training.device import data_budget, synchronize
from automl.training.loop import loss_function, make_optimizers, train_epoch
from automl.training.predict import predict
from models.deepfm import DEEPFM_CARD
from models.spec import DataSpec, FieldInfo

N_CAT, N_NUM, EMBED, HIDDEN, BATCH = 26, 13, 16, "400-400-400", 4096


def criteo_like(rows: int, seed: int = 0) -> tuple[DataSpec, dict[str, torch.Tensor]]:
    rng = np.random.default_rng(seed)
    vocab = np.round(np.logspace(1, 5, N_CAT)).astype(int)
    cat = np.stack([np.minimum(rng.zipf(1.2, rows), v) for v in vocab], 1).astype(np.int64)
    num = rng.standard_normal((rows, N_NUM)).astype(np.float32)
    logit = 0.3 * num[:, 0] - 0.2 * (cat[:, 0] % 3 == 0) + 0.4 * ((cat[:, 1] + cat[:, 2]) % 2)
    label = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.float32)
    spec = DataSpec(task="ctr", fields=tuple(FieldInfo(f"C{j + 1}", int(v) + 1) for j, v in enumerate(vocab)),
                    numeric=tuple(f"I{j + 1}" for j in range(N_NUM)), buckets=(), label_mean=float(label.mean()))
    batch = {"cat": torch.from_numpy(cat), "num": torch.from_numpy(num),
             "num_bkt": torch.zeros(rows, 0, dtype=torch.int64), "label": torch.from_numpy(label)}
    return spec, batch


class BareDeepFM(nn.Module):
    """The same network as CrossBoard's DeepFM, written out by hand."""

    def __init__(self, cards: list[int], n_num: int):
        super().__init__()
        self.register_buffer("offsets", torch.tensor([0, *np.cumsum(cards)[:-1]], dtype=torch.long))
        self.first = nn.Embedding(sum(cards), 1)
        self.first_num = nn.Linear(n_num, 1)
        self.emb = nn.Embedding(sum(cards), EMBED)
        layers, width = [], len(cards) * EMBED + n_num
        for out in (400, 400, 400):
            layers += [nn.Linear(width, out), nn.ReLU()]
            width = out
        self.dnn = nn.Sequential(*layers, nn.Linear(width, 1, bias=False))

    def forward(self, cat, num):
        ids = cat + self.offsets
        e = self.emb(ids)
        fm = 0.5 * (e.sum(1).pow(2) - e.pow(2).sum(1)).sum(1)
        linear = self.first(ids).sum((1, 2)) + self.first_num(num).squeeze(1)
        return linear + fm + self.dnn(torch.cat([e.flatten(1), num], 1)).squeeze(1)


def time_crossboard(spec, data, batch: int, precision: str, stream_to: torch.device | None = None,
                    updates: str = "auto") -> tuple[float, float]:
    """(train, inference) seconds of one epoch; ``stream_to``: the device host-memory ``data`` streams to;
    ``updates``: the ``embedding_updates`` option (auto, dense or sparse rows)."""
    params = {**DEEPFM_CARD.defaults, "embed_dim": EMBED, "hidden": HIDDEN, "dropout": 0.0, "l2": 0.0,
              "batch_size": batch, "optimizer": "adam", "lr": 1e-3, "embedding_updates": updates}
    device = stream_to or data["label"].device
    model = DEEPFM_CARD.build(spec, params).to(device)
    optimizers, loss_fn = make_optimizers(model, params), loss_function("ctr")
    synchronize(device)
    tick = time.perf_counter()
    train_epoch(model, optimizers, loss_fn, data, batch, precision=precision, device=stream_to)
    synchronize(device)
    train_s = time.perf_counter() - tick
    tick = time.perf_counter()
    predict(model, data, batch_size=batch, device=stream_to)
    synchronize(device)
    return train_s, time.perf_counter() - tick


def time_bare(spec, data, batch: int, precision: str) -> tuple[float, float]:
    device = data["label"].device
    model = BareDeepFM([f.cardinality for f in spec.fields], N_NUM).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.BCEWithLogitsLoss()
    cat, num, label = data["cat"], data["num"], data["label"]
    n = len(label)
    synchronize(device)
    tick = time.perf_counter()
    model.train()
    perm = torch.randperm(n, device=device)
    for start in range(0, n - batch + 1, batch):
        idx = perm[start:start + batch]
        loss = loss_fn(model(cat[idx], num[idx]), label[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    synchronize(device)
    train_s = time.perf_counter() - tick
    tick = time.perf_counter()
    model.eval()
    with torch.inference_mode():
        torch.cat([model(cat[s:s + batch], num[s:s + batch]) for s in range(0, n, batch)]).cpu().numpy()
    return train_s, time.perf_counter() - tick


def time_deepctr(spec, data, batch: int, precision: str) -> tuple[float, float] | None:
    try:
        from deepctr_torch.inputs import DenseFeat, SparseFeat
        from deepctr_torch.models import DeepFM
    except ImportError:
        return None
    columns = [SparseFeat(f.name, f.cardinality, embedding_dim=EMBED) for f in spec.fields]
    columns += [DenseFeat(name, 1) for name in spec.numeric]
    device = data["label"].device
    frame = {f.name: data["cat"][:, j].cpu().numpy() for j, f in enumerate(spec.fields)}
    frame.update({name: data["num"][:, j].cpu().numpy() for j, name in enumerate(spec.numeric)})
    model = DeepFM(columns, columns, dnn_hidden_units=(400, 400, 400), dnn_dropout=0.0, l2_reg_embedding=0.0,
                   l2_reg_linear=0.0, l2_reg_dnn=0.0, task="binary", device=str(device))
    model.compile("adam", "binary_crossentropy")
    tick = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):        # fit prints the device and the rows
        model.fit(frame, data["label"].cpu().numpy(), batch_size=batch, epochs=1, verbose=0)
    train_s = time.perf_counter() - tick
    tick = time.perf_counter()
    model.predict(frame, batch_size=batch)
    return train_s, time.perf_counter() - tick


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (the data lives there)")
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"], help="CrossBoard's side only")
    parser.add_argument("--updates", default="auto", choices=["auto", "dense", "sparse"],
                        help="CrossBoard's embedding_updates (sparse: lazy Adam on the rows a batch looked up)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    spec, host = criteo_like(args.rows)
    device = torch.device(args.device)
    data_bytes = sum(v.numel() * v.element_size() for v in host.values())
    streamed = data_bytes > data_budget(device)
    data = {k: v.to(device) for k, v in host.items()}

    def crossboard(spec, data, batch, precision):
        """CrossBoard's side: the host rows streamed to the device when they are over its budget."""
        return time_crossboard(spec, host if streamed else data, batch, precision, device if streamed else None,
                               args.updates)

    best: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        for name, timer in (("crossboard", crossboard), ("bare", time_bare), ("deepctr", time_deepctr)):
            result = timer(spec, data, args.batch, args.precision)
            if result is not None:
                old = best.get(name, [float("inf"), float("inf")])
                best[name] = [min(old[0], result[0]), min(old[1], result[1])]
    rows = (args.rows // args.batch) * args.batch
    out = {
        "rows": args.rows, "threads": args.threads, "repeats": args.repeats, "device": args.device,
        "batch": args.batch, "precision": args.precision, "updates": args.updates, "streamed": streamed, "data_gb": data_bytes / 1e9,
        "train_samples_per_s": rows / best["crossboard"][0], "bare_train_samples_per_s": rows / best["bare"][0],
        "infer_samples_per_s": args.rows / best["crossboard"][1], "bare_infer_samples_per_s": args.rows / best["bare"][1],
    }
    out["ratio_train"] = out["train_samples_per_s"] / out["bare_train_samples_per_s"]
    out["ratio_infer"] = out["infer_samples_per_s"] / out["bare_infer_samples_per_s"]
    if "deepctr" in best:
        out["deepctr_train_samples_per_s"] = args.rows / best["deepctr"][0]
        out["deepctr_infer_samples_per_s"] = args.rows / best["deepctr"][1]
        out["deepctr_ratio_train"] = out["deepctr_train_samples_per_s"] / out["bare_train_samples_per_s"]
        out["deepctr_ratio_infer"] = out["deepctr_infer_samples_per_s"] / out["bare_infer_samples_per_s"]
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}))


if __name__ == "__main__":
    main()
