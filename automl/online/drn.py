"""DRN's online learning (Zheng et al., WWW 2018) around its Q-network (``models.drn``).

*Minor update*, after each window (or each of its ``parts``, DRN's update window): Dueling Bandit
Gradient Descent. An explore network W~ = W + dW, dW = alpha * U(-1, 1) * W (a copy: the live network is not touched while exploring);
both networks rank each (user, window) set of logged impressions, the two lists are interleaved
(``automl.online.interleave``) and the logged clicks credit the list that contributed the clicked
item. When the explore network collects more credit over the window, W <- W + eta * dW. The paper
prints W + eta * W~; we read it as the classic DBGD step toward the winner (Yue & Joachims, 2009):
eta = 1 adopts the explore network, a smaller eta moves part of the way.

*Major update*, every ``every`` windows: one DQN pass over the replay memory (the newest
``MEMORY_ROWS`` revealed rows). Q is a logit whose sigmoid q is read as a value in [0, 1]: the
reward r = click + beta * activeness (``automl.online.reward``) is scaled to r~ = r / (1 + beta),
and the target is (1 - gamma) * r~ + gamma * max q'(s', a') over the user's next (user, window)
set, from the network's values before the pass (a frozen target); a row without a next set in
the memory has target r~. The loss is the log loss against that soft target, so gamma = beta = 0
is the click log loss every other model trains with; the offline initialisation is exactly that.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from automl.errors import SettingsError
from automl.evaluation.metrics import sigmoid
from automl.online.interleave import METHODS, compare
from automl.online.modes import Static, clone
from automl.online.reward import activeness
from automl.online.stream import Log
from automl.training.loop import loss_function, make_optimizers, train_epoch
from automl.training.predict import predict

MEMORY_ROWS = 200_000


MODE = "drn"        # the online mode run here: the one DRN's card declares (``ModelCard.online_mode``)

@dataclass(frozen=True)
class DRNOptions:
    """The online options of DRN (its network's options are tuned offline)."""

    alpha: float = 0.1               # exploration: the size of the perturbation, relative to each weight
    eta: float = 0.5                 # the step toward a winning explore network
    every: int = 2                   # M: windows between major updates
    gamma: float = 0.0               # discount of the next set's value (0: the immediate reward)
    beta: float = 0.0                # weight of user activeness in the reward
    method: str = "probabilistic"    # interleaving: "probabilistic" or "team_draft"
    parts: int = 1                   # the update window: minor updates per evaluation window

    def as_dict(self) -> dict:
        return asdict(self)


def perturbation(model: nn.Module, alpha: float, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """dW = alpha * U(-1, 1) * W for every parameter (a dict by parameter name)."""
    return {name: alpha * (torch.rand(p.shape, generator=generator, dtype=p.dtype) * 2 - 1).to(p.device) * p.detach()
            for name, p in model.named_parameters()}


def explore_network(model: nn.Module, delta: dict[str, torch.Tensor]) -> nn.Module:
    """A copy of ``model`` with weights W + dW."""
    explore = clone(model)
    with torch.no_grad():
        for name, p in explore.named_parameters():
            p.add_(delta[name])
    return explore


def dbgd_step(live: nn.Module, delta: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], clicks: np.ndarray,
              groups: np.ndarray, rng: np.random.Generator, eta: float, method: str) -> dict:
    """One minor update on one window's rows: the duel of the live network against W + dW over the
    impression sets ``groups`` (int [n]); ``clicks`` bool [n]. Moves the live network by
    ``eta * delta`` when the explore network wins. -> {"live": credit, "explore": credit, "adopted": bool}."""
    explore = explore_network(live, delta)
    live_credit, explore_credit = compare(predict(live, batch), predict(explore, batch), clicks, groups, rng, method)
    adopted = explore_credit > live_credit
    if adopted:
        with torch.no_grad():
            for name, p in live.named_parameters():
                p.add_(eta * delta[name])
    return {"live": int(live_credit), "explore": int(explore_credit), "adopted": bool(adopted)}


def next_set_values(users: np.ndarray, window: np.ndarray, values: np.ndarray) -> np.ndarray:
    """float64 [n]: for each row, the highest of ``values`` [n] over the rows of the same user's
    next (user, window) set, or NaN when the user has none."""
    keys, group = np.unique(np.stack([users, window], 1), axis=0, return_inverse=True)
    group = group.reshape(-1)
    best = np.full(len(keys), -np.inf)
    np.maximum.at(best, group, values)
    following = np.r_[keys[1:, 0] == keys[:-1, 0], False]       # keys sorted by (user, window)
    next_best = np.where(following, np.r_[best[1:], np.nan], np.nan)
    return next_best[group]


def dqn_targets(log: Log, start: int, end: int, q_target: np.ndarray, options: DRNOptions) -> np.ndarray:
    """float32 [end - start] soft targets of the rows ``start:end`` (see the module docstring);
    ``q_target`` [end - start]: the target network's values sigmoid(Q) of those rows."""
    clicks = log.rows["label"][start:end].cpu().numpy().astype(np.float64)
    reward = clicks
    if options.beta > 0:
        active = activeness(log.users[start:end], log.seconds[start:end], end=float(log.seconds[end - 1]))
        reward = (clicks + options.beta * active) / (1.0 + options.beta)
    if options.gamma == 0:
        return reward.astype(np.float32)
    following = next_set_values(log.users[start:end], log.window[start:end], q_target)
    return ((1 - options.gamma) * reward + options.gamma * np.where(np.isnan(following), reward, following)
            ).astype(np.float32)


class DRNLearner(Static):
    """DRN's ``drn`` mode: a minor update after each of the ``options.parts`` parts of a window, a
    major update every ``options.every`` windows."""

    def __init__(self, model: nn.Module, params: dict, options: DRNOptions, seed: int = 0):
        if options.method not in METHODS:
            raise SettingsError(f"unknown interleaving method {options.method!r}; use one of {', '.join(METHODS)}")
        super().__init__(model)
        self.params, self.options = params, options
        self.rng, self.generator = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
        self.optimizers = make_optimizers(model, params)
        self.parts = options.parts
        self.duels: list[dict] = []      # one per minor update, with its stream window
        self.waiting = 0

    def learn(self, log: Log, start: int, end: int) -> None:
        if log.users is None:
            raise SettingsError("DRN's online mode ranks each user's impressions: the dataset needs a user column")
        batch = log.take(start, end)
        clicks = batch["label"].cpu().numpy() > 0.5
        delta = perturbation(self.model, self.options.alpha, self.generator)
        duel = dbgd_step(self.model, delta, batch, clicks, log.users[start:end], self.rng, self.options.eta,
                         self.options.method)
        self.duels.append({"window": int(log.window[start]), **duel})
        self.waiting += 1
        if self.waiting >= self.options.every * self.parts:
            self.waiting = 0
            self.major_update(log, end)

    def major_update(self, log: Log, end: int) -> None:
        """One DQN pass over the newest ``MEMORY_ROWS`` revealed rows."""
        start = max(0, end - MEMORY_ROWS)
        memory = log.take(start, end)
        q_target = sigmoid(predict(self.model, memory))      # the values before the pass: a frozen target network
        targets = torch.from_numpy(dqn_targets(log, start, end, q_target, self.options)).to(memory["label"].device)
        train_epoch(self.model, self.optimizers, loss_function("ctr"),
                    self.model.training_data({**memory, "label": targets}), self.params["batch_size"], keep_last=True,
                    precision=self.params.get("precision", "fp32"))
