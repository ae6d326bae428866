"""DRN (Zheng et al., WWW 2018): the Deep Q-Network of "DRN: A Deep Reinforcement Learning
Framework for News Recommendation", scoring one (state, action) = (user in context, candidate
item) row at a time; ``forward(batch) -> Q [B]``, a click-probability logit (the online learner
reads sigmoid(Q) as a value in [0, 1]).

Shapes: B rows, k = ``embed_dim``, h = ``out_dim``, e_j [B, k] the embedding of input j
(categorical field, bucketized numeric column under ``numeric_mode`` bucketize/both, or a
mean-pooled sequence column; one ``FieldEmbedding`` table).

Sides (``FieldInfo.side``): U the user-side fields, I the item-side fields, C the rest (context
fields, bucket fields, sequence columns). A spec without item-side fields has no item to name,
so the action is everything that is not the user: I <- C, C <- {} (e.g. an all-context table
puts every field on the action side, the state then holding the numeric columns only).

- history (where ``spec.history`` exists and its attribute 0 is the item id field, as in the
  two-tower model): hbar_a = the mean embedding of attribute a (the item id, then item-side
  fields such as the category; each in its field's table) over the real past steps, [B, k] for
  a = 0..A-1 (``hist_len`` decides what is real; an empty history gives 0).
- state   s = T_s([e_U ; e_C ; num ; hbar_0 .. hbar_{A-1}]) [B, h]
  (num [B, D] under numeric_mode raw/both)
- cross   x = mean(e_U, hbar_0) ⊙ mean(e_I)     [B, k]    the pooled user-side embedding times
  the pooled item-side one (present when both sides have something to pool)
- history cross  y_a = hbar_a ⊙ e_{field of a}  [B, k]    per item-side attribute: how much the
  candidate's id / category resembles what the user clicked (the paper's user-news features)
- action  a = T_a([e_I ; x ; y_0 .. y_{A-1}]) [B, h]
- T_s, T_a: MLP (``state_tower`` / ``action_tower`` widths) then a linear map to h, the
  two-tower model's ``tower``; a side with no input at all (e.g. a table of item fields only has
  no state) reads a constant 1, so its vector is a learned constant.
- advantage A(s, a) = w^T MLP([s ; a ; s ⊙ a])  [B]    (``hidden`` widths)
- value     V(s) = b + v^T s                       [B]    with ``dueling``; V = b without it
- Q(s, a) = V(s) + A(s, a), the bias b starting at ``output_bias`` (logit of the training rate).

Without ``dueling`` Q is the interaction MLP plus the bias. With it, V reads the state alone, so
items change Q only through A (the paper's V(s) from user and context features, A(s, a) from
all). A is not centred over the candidate set (rows are scored one at a time), as in the paper's
Q = V + A.

The state and action never see each other's fields: item-side inputs reach the state vector
through no path; user-side inputs and the history reach the action only through the cross
terms x and y.

DRN's online learning (offline init, DBGD minor updates with an explore network, DQN major
updates on the replayed log, the click + activeness reward) lives in ``automl.online``; this
module is only the Q-network, trained offline as an ordinary ctr model.
"""

from __future__ import annotations

import torch
from torch import nn

from models.base import RecModel, field_inputs, output_bias
from models.card import ModelCard, ScopedTrial
from models.common import COMMON_DEFAULTS, common_space, hidden_sizes
from models.layers.blocks.mlp import MLP
from models.layers.embeddings.sides import item_columns, user_columns
from models.layers.sequence.behavior import behavior_vectors
from models.spec import DataSpec
from models.two_tower import TOWER_CHOICES, tower


def side_fields(spec: DataSpec, side: str) -> list[int]:
    """Indices into ``spec.fields`` of the ``side`` ("user" / "item") fields, the id field first
    where the spec names one (``user_columns`` / ``item_columns``)."""
    named = spec.user_field if side == "user" else spec.item_field
    if named is not None:
        return user_columns(spec) if side == "user" else item_columns(spec)
    return [j for j, f in enumerate(spec.fields) if f.side == side]


def drn_sides(spec: DataSpec, n_rows: int) -> tuple[list[int], list[int], list[int]]:
    """(user, item, context) rows of the ``FieldEmbedding`` output ([B, n_rows, k]: the fields,
    then any bucket fields and sequence columns, which are context); without item-side fields,
    every non-user row is the item side (the action) and context is empty."""
    user = side_fields(spec, "user")
    item = [j for j in side_fields(spec, "item") if j not in user]
    context = [j for j in range(n_rows) if j not in user and j not in item]
    return (user, context, []) if not item else (user, item, context)


class DRN(RecModel):
    """The DRN Q-network (module docstring): ``state_vector``, ``action_vector``, ``value``
    (V(s)), ``advantage`` (A(s, a)); ``forward`` = value + advantage."""

    def __init__(self, spec: DataSpec, params: dict):
        super().__init__()
        inputs = field_inputs(spec, params)
        self.embedding, self.use_raw = inputs.embedding, inputs.use_raw
        k, h, dropout = params["embed_dim"], params["out_dim"], params["dropout"]
        self.user_rows, self.item_rows, self.context_rows = drn_sides(spec, self.embedding.n_fields)
        self.state_rows = self.user_rows + self.context_rows
        pooled = (spec.history is not None and spec.item_field is not None
                  and spec.history.field_index[0] == spec.item_field)
        self.history = spec.history if pooled else None
        attributes = list(self.history.field_index) if self.history is not None else []
        # history attributes crossed with the candidate's own value of that field (item-side ones)
        self.history_cross = [a for a, j in enumerate(attributes) if j in self.item_rows]
        self.cross = bool(self.item_rows) and (bool(self.user_rows) or self.history is not None)
        self.n_numeric = len(spec.numeric) if self.use_raw else 0
        self.state_width = k * (len(self.state_rows) + len(attributes)) + self.n_numeric
        self.action_width = k * (len(self.item_rows) + self.cross + len(self.history_cross))
        self.state_tower = tower(max(self.state_width, 1), params["state_tower"], h, dropout)
        self.action_tower = tower(max(self.action_width, 1), params["action_tower"], h, dropout)
        self.interaction = MLP(3 * h, hidden_sizes(params["hidden"]), dropout)
        self.advantage_head = nn.Linear(self.interaction.out_dim, 1, bias=False)
        self.dueling = bool(params["dueling"])
        self.value_head = nn.Linear(h, 1, bias=False) if self.dueling else None
        self.bias = nn.Parameter(torch.tensor(float(output_bias(spec))))

    def history_means(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(hbar [B, A, k]: each history attribute's mean embedding over the real steps, 0 for an
        empty history; candidate [B, A, k]: the candidate's own value of each attribute)."""
        candidate, steps, mask = behavior_vectors(self.embedding, batch, self.history)
        real = mask.unsqueeze(-1).to(steps.dtype)
        hbar = (steps * real).sum(1) / real.sum(1).clamp(min=1)
        return hbar.unflatten(1, (-1, self.embedding.dim)), candidate.unflatten(1, (-1, self.embedding.dim))

    def towers(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(state [B, h], action [B, h]), sharing one embedding lookup."""
        emb = self.embedding(batch)
        history = self.history_means(batch) if self.history is not None else None
        return self.state_from(emb, batch, history), self.action_from(emb, history)

    def state_from(self, emb: torch.Tensor, batch, history) -> torch.Tensor:
        parts = [emb[:, self.state_rows].flatten(1)] if self.state_rows else []
        if self.n_numeric:
            parts.append(batch["num"])
        if history is not None:
            parts.append(history[0].flatten(1))
        return self.state_tower(self.tower_input(parts, emb))

    def action_from(self, emb: torch.Tensor, history) -> torch.Tensor:
        parts = [emb[:, self.item_rows].flatten(1)] if self.item_rows else []
        if self.cross:
            users = [emb[:, self.user_rows]] if self.user_rows else []
            users += [history[0][:, :1]] if history is not None else []
            pooled_user = torch.cat(users, dim=1).mean(1)
            parts.append(pooled_user * emb[:, self.item_rows].mean(1))
        if self.history_cross:
            hbar, candidate = history
            parts.append((hbar[:, self.history_cross] * candidate[:, self.history_cross]).flatten(1))
        return self.action_tower(self.tower_input(parts, emb))

    @staticmethod
    def tower_input(parts: list[torch.Tensor], emb: torch.Tensor) -> torch.Tensor:
        """The concatenated parts, or a constant 1 column [B, 1] for a side with no input."""
        if not parts:
            return emb.new_ones(emb.shape[0], 1)
        return torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]

    def state_vector(self, batch) -> torch.Tensor:
        """s [B, h] from the user-side and context inputs, numerics and pooled history only."""
        return self.towers(batch)[0]

    def action_vector(self, batch) -> torch.Tensor:
        """a [B, h] from the item-side fields and the cross terms (user x item, history x item)."""
        return self.towers(batch)[1]

    def value(self, state: torch.Tensor) -> torch.Tensor:
        """V(s) [B]: the bias plus a linear map of the state with ``dueling``, the bias alone without."""
        if self.value_head is None:
            return self.bias + torch.zeros_like(state[:, 0])
        return self.bias + self.value_head(state).squeeze(1)

    def advantage(self, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """A(s, a) [B]: the interaction MLP over [s ; a ; s ⊙ a] (without ``dueling``, Q less the bias)."""
        return self.advantage_head(self.interaction(torch.cat([state, action, state * action], dim=1))).squeeze(1)

    def forward(self, batch):
        """Q = V(s) + A(s, a) [B], adding the parts in place (a traced zero V would fix the batch size)."""
        state, action = self.towers(batch)
        q = self.advantage(state, action) + self.bias
        return q + self.value_head(state).squeeze(1) if self.value_head is not None else q


def drn_space(t: ScopedTrial, spec: DataSpec) -> dict:
    return {
        **common_space(t, spec),
        "state_tower": t.categorical("state_tower", TOWER_CHOICES),
        "action_tower": t.categorical("action_tower", TOWER_CHOICES),
        "out_dim": t.categorical("out_dim", [16, 32, 64]),
        "hidden": t.categorical("hidden", TOWER_CHOICES),
        "dropout": t.float("dropout", 0.0, 0.5),
        "dueling": t.categorical("dueling", [False, True]),
    }


DRN_CARD = ModelCard(
    "drn", "DRN (Zheng et al., 2018)", "reinforcement learning",
    build=DRN,
    tasks=frozenset({"ctr"}),
    requires=frozenset({"fields"}),
    search_space=drn_space,
    defaults={**COMMON_DEFAULTS, "embed_dim": 32, "state_tower": "128-64", "action_tower": "128-64",
              "out_dim": 32, "hidden": "64", "dropout": 0.0, "dueling": True},
    key_options=("dueling", "state_tower", "action_tower", "hidden", "embed_dim"),
    online_mode="drn",                  # DBGD minor updates and DQN major ones (automl.online.drn)
    online_requires=frozenset({"user"}),  # interleaving ranks each user's impressions
)
