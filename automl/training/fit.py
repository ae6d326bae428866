"""Fitting one configuration of one model: the entry point of training. Each task has its way
of fitting (``FITS``), built on the loop and the feeds below it."""

from __future__ import annotations

from collections.abc import Callable

import torch

from automl.features.encode import EncodedData
from automl.training.implicit import fit_implicit
from automl.training.loop import FitSettings, Reporter, TrialOutcome, fit_torch
from automl.training.pointwise import Pointwise
from automl.training.trees import fit_trees
from models.card import ModelCard, ModelKind

Fit = Callable[[ModelCard, dict, EncodedData, FitSettings], TrialOutcome]


def fit_labeled(card: ModelCard, params: dict, data: EncodedData, settings: FitSettings) -> TrialOutcome:
    """ctr and rating: tree ensembles stage by stage, neural models on the pointwise feed."""
    if card.kind is ModelKind.TREES:
        return fit_trees(card, params, data, settings)
    return fit_torch(card, params, data, settings, Pointwise)


FITS: dict[str, Fit] = {"ctr": fit_labeled, "rating": fit_labeled, "implicit": fit_implicit}


def train_and_evaluate(card: ModelCard, params: dict, data: EncodedData, *, metric: str,
                       max_epochs: int = 10, patience: int = 2, reporter: Reporter | None = None,
                       time_cap_s: float | None = None, seed: int = 0) -> TrialOutcome:
    """Fit ``card``'s model with ``params`` on ``data`` (tensors already on the training device);
    the keywords are ``FitSettings``'."""
    torch.manual_seed(seed)
    settings = FitSettings(metric, max_epochs, patience, reporter, time_cap_s)
    return FITS[data.spec.task](card, params, data, settings)
