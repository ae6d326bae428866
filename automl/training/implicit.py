"""Fitting on the implicit top-K task: the same epoch loop as ctr and rating (``automl.training.loop``),
fed with fresh negatives each epoch and judged by ranking each held-out item among its
candidates; plus the two things only this task has: parameter-free baselines (popularity,
random) and NeuMF-style pretraining of a model's parts inside the trial."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import torch

from automl.data.schema import FULL_CORPUS
from automl.evaluation.ranking import cutoffs, ranking_metrics
from automl.features.encode import EncodedData
from automl.features.negatives import ItemTable, NegativeSampler
from automl.features.topk_split import DEFAULT_NEG_RATIO, contains, interaction_keys
from automl.training.candidates import candidate_width, held_out_ranks
from automl.training.device import describe
from automl.training.loop import EpochLoop, FeedFactory, FitSettings, TrialOutcome, fit_torch, kept_outputs
from automl.training.predict import ms_per_1k, timed
from models.card import ModelCard, ModelKind

EVAL_SPLITS = ("val", "test")
FULL_CORPUS_PAIRS = 5_000_000   # (user, item) pairs scored at most for the full-corpus test (a few seconds on a CPU)


class RankingLoop(EpochLoop):
    """EpochLoop whose validation metrics come from ``evaluate(outputs)`` of the feed."""

    def __init__(self, feed: ImplicitFeed, settings: FitSettings):
        super().__init__("implicit", settings.metric, np.zeros(0), settings.patience, settings.reporter)
        self.feed = feed

    def evaluate(self, val_outputs: np.ndarray) -> dict[str, float]:
        return self.feed.evaluate("val", val_outputs)


class ImplicitFeed:
    """``automl.training.loop.Feed`` of the implicit task (``automl.training.pointwise.Pointwise``
    is the ctr and rating one).

    Each epoch: the training positives plus ``neg_ratio`` fresh negatives per positive (none
    for a model with ``in_batch_negatives``). A split's outputs: float64 [U], the rank of each
    held-out row's item among its C candidates (the split's ``cand`` or, when the data has none,
    every item but the user's other known items). With sampled candidates the test also ranks each
    held-out item against every item ("test_full", metrics prefixed ``FULL_CORPUS``), since sampled
    metrics can order models differently (Krichene & Rendle, KDD 2020): for every user row, or for
    evenly spaced ones when all of them would score more than FULL_CORPUS_PAIRS pairs.
    """

    def __init__(self, model, params: dict, data: EncodedData, metric: str = "ndcg@10"):
        spec, train = data.spec, data.splits["train"]
        self.model, self.data, self.ks = model, data, cutoffs(metric)
        self.table = ItemTable(spec, train["cat"])
        seed = int(torch.randint(0, 2**62, ()).item())           # follows the trial's torch seed
        self.sampler = NegativeSampler(spec, train, self.table, seed)
        self.ratio = 0 if model.in_batch_negatives else int(params.get("neg_ratio", DEFAULT_NEG_RATIO))
        self.rows_of = {s: {k: v for k, v in data.splits[s].items() if k != "cand"} for s in EVAL_SPLITS}
        self.candidates = {s: data.splits[s].get("cand") for s in EVAL_SPLITS}
        self.known = interaction_keys(data)

    def unknown(self, rows: dict[str, torch.Tensor], start: int, stop: int) -> np.ndarray:
        """bool [stop - start, I - 1]: which items 1..I-1 are not among the known items of the users of
        ``rows`` start..stop (the candidates that count in full-corpus ranking)."""
        n_items = self.table.n_items
        users = rows["cat"][start:stop, self.data.spec.user_field].cpu().numpy()
        return ~contains(self.known, users[:, None] * n_items + np.arange(1, n_items))

    def valid(self, split: str, start: int, stop: int) -> np.ndarray:
        """bool [stop - start, C]: which candidates of user rows start..stop count (not padding;
        in the full corpus, not the user's other known items)."""
        if self.candidates[split] is not None:
            return self.candidates[split][start:stop].cpu().numpy() > 0
        return self.unknown(self.rows_of[split], start, stop)

    def rows(self, epoch: int) -> dict[str, torch.Tensor]:
        return self.model.training_data(self.sampler.epoch_rows(self.ratio))

    def outputs(self, split: str) -> np.ndarray:
        return held_out_ranks(self.model, self.rows_of[split], self.table, self.candidates[split],
                              lambda start, stop: self.valid(split, start, stop))

    def evaluate(self, split: str, ranks: np.ndarray) -> dict[str, float]:
        return ranking_metrics(ranks, self.ks)

    def loop(self, settings: FitSettings) -> EpochLoop:
        return RankingLoop(self, settings)

    def full_corpus_ranks(self) -> np.ndarray:
        """float64 [u]: the rank of the held-out item among every item of ``full_corpus_rows`` (see the class)."""
        rows = self.rows_of["test"]
        picked = full_corpus_rows(len(rows["label"]), self.table.n_items)
        chosen = {k: v[torch.as_tensor(picked, device=v.device)] for k, v in rows.items()}
        return held_out_ranks(self.model, chosen, self.table, None,
                              lambda start, stop: self.unknown(chosen, start, stop))

    def test(self, loop: EpochLoop) -> tuple[dict, float, dict[str, np.ndarray]]:
        """(test metrics, scoring latency in ms per 1,000 (user, item) pairs, {"test": the ranks [U]} and,
        with sampled candidates, "test_full": the full-corpus ranks [u])."""
        ranks, seconds = timed(lambda: self.outputs("test"), self.data.device)
        pairs = len(ranks) * (1 + candidate_width(self.table, self.candidates["test"]))
        judged, outputs = self.evaluate("test", ranks), {"test": ranks}
        if self.candidates["test"] is not None:
            outputs["test_full"] = self.full_corpus_ranks()
            judged.update({FULL_CORPUS + k: v for k, v in self.evaluate("test", outputs["test_full"]).items()
                           if not k.startswith("recall@")})
        return judged, ms_per_1k(seconds, pairs), outputs

    def notes(self) -> dict[str, float]:
        return self.model.notes(self.rows_of["test"])


def full_corpus_rows(n_users: int, n_items: int) -> np.ndarray:
    """int64 [u]: the test user rows ranked against every item: all of them, or evenly spaced ones when all
    would score more than FULL_CORPUS_PAIRS (user, item) pairs; the same rows for every model of a dataset."""
    keep = min(n_users, max(1, FULL_CORPUS_PAIRS // max(n_items - 1, 1)))
    return np.unique(np.linspace(0, n_users - 1, keep).round().astype(np.int64))


def fit_implicit(card: ModelCard, params: dict, data: EncodedData, settings: FitSettings) -> TrialOutcome:
    """``automl.training.fit.train_and_evaluate`` for implicit data."""
    def feed(model, p, d):
        return ImplicitFeed(model, p, d, settings.metric)

    if card.kind is ModelKind.BASELINE:
        return fit_baseline(card, params, data, settings, feed)
    if card.pretrain and params.get("pretrain"):
        return fit_pretrained(card, params, data, settings, feed)
    return fit_torch(card, params, data, settings, feed)


def fit_pretrained(card: ModelCard, params: dict, data: EncodedData, settings: FitSettings,
                   feed: FeedFactory) -> TrialOutcome:
    """Fit each of ``card.pretrain``'s parts with the same ``params`` and data, then the model,
    built from the parts' best weights (``load_pretrained``). The parts' validation metrics go
    to the notes; their time counts in the trial's training time (and against its time cap)."""
    parts: dict[str, TrialOutcome] = {}
    for part in card.pretrain:
        spent = sum(o.train_seconds for o in parts.values())
        cap = None if settings.time_cap_s is None else max(settings.time_cap_s - spent, 0.0)
        parts[part.name] = fit_torch(part, params, data, replace(settings, reporter=None, time_cap_s=cap), feed)
    states = {name: outcome.state_dict for name, outcome in parts.items()}

    def build(spec, p):
        return card.build(spec, p).load_pretrained(states)

    spent = sum(o.train_seconds for o in parts.values())
    cap = None if settings.time_cap_s is None else max(settings.time_cap_s - spent, 0.0)
    outcome = fit_torch(replace(card, build=build), params, data, replace(settings, time_cap_s=cap), feed)
    outcome.train_seconds += spent
    outcome.notes.update({f"pretrained {name} val {settings.metric}": o.val.get(settings.metric, float("nan"))
                          for name, o in parts.items()})
    return outcome


def fit_baseline(card: ModelCard, params: dict, data: EncodedData, settings: FitSettings,
                 feed: FeedFactory) -> TrialOutcome:
    """A parameter-free model: ``fit(positives)`` once, one validation "epoch", then test."""
    model = card.build(data.spec, params).to(data.device)
    source = feed(model, params, data)
    loop = source.loop(replace(settings, patience=1))
    tick = time.perf_counter()
    model.fit(data.splits["train"])
    seconds = time.perf_counter() - tick
    loop.after_epoch(1, 0.0, source.outputs("val"), seconds)
    test_metrics, latency, test_outputs = ({}, float("nan"), None) if loop.pruned else source.test(loop)
    return TrialOutcome(
        val=loop.best_val, test=test_metrics, best_epoch=1, epochs=1, train_seconds=time.perf_counter() - tick,
        n_params=sum(b.numel() for b in model.buffers()), latency_ms_per_1k=latency,
        device=describe(data.device), pruned=loop.pruned, history=loop.history,
        outputs=kept_outputs(loop, test_outputs),
    )
