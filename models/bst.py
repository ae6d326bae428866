"""BST (Chen et al., 2019): a Transformer over the behavior history and the candidate."""

from __future__ import annotations

import math

import torch
from torch import nn

from models.card import ModelCard, ScopedTrial
from models.common import COMMON_DEFAULTS
from models.history_model import HISTORY_NEEDS, HistoryModel, behavior_dim, history_space
from models.layers.attention.transformer import TransformerBlock
from models.spec import DataSpec


class BST(HistoryModel):
    """Tokens: the history steps then the candidate, projected to the model width (the behavior
    width rounded up to a multiple of ``heads``) plus an encoding of ``position``: the time gap
    bucket ``hist_age`` (``time_gap``, the paper's) or the rank from the newest (``position``);
    the candidate's code is 0. v_U after ``blocks`` Transformer blocks: with ``output`` ``all`` (the
    paper's) every position's output, concatenated in the order newest step first, padding steps zero,
    the candidate's last: [B, (L + 1) · width]; with ``candidate`` the candidate token's output alone,
    [B, width]. The candidate's attention over the history (last block) is the diagnostic."""

    def __init__(self, spec: DataSpec, params: dict):
        dim, heads = behavior_dim(spec, params), params["heads"]
        width = heads * math.ceil(dim / heads)
        self.all_positions = params.get("output", "candidate") == "all"
        super().__init__(spec, params, width * (spec.history.max_len + 1 if self.all_positions else 1))
        self.max_len = spec.history.max_len
        self.project = nn.Linear(dim, width, bias=False)     # a bias would drown the small embeddings
        self.time_gap = params["position"] == "time_gap"
        codes = spec.history.n_age_buckets if self.time_gap else spec.history.max_len + 1
        self.position = nn.Embedding(codes, width)
        nn.init.normal_(self.position.weight, std=0.01)        # as small as the item embeddings
        self.blocks = nn.ModuleList(TransformerBlock(width, heads, params["attention_dropout"])
                                    for _ in range(params["blocks"]))

    def interest(self, candidate, steps, mask, batch):
        if self.time_gap:
            codes = batch["hist_age"]
        else:
            rank = batch["hist_len"].unsqueeze(1) - torch.arange(mask.shape[1], device=mask.device)
            codes = torch.where(mask, rank, 0)
        tokens = self.project(torch.cat([steps, candidate.unsqueeze(1)], dim=1))
        tokens = tokens + self.position(nn.functional.pad(codes, (0, 1)))
        padding = nn.functional.pad(~mask, (0, 1))
        for block in self.blocks:
            tokens, weights = block(tokens, padding)
        if not self.all_positions:
            return tokens[:, -1], weights[:, -1, :-1]
        # histories are left-aligned, oldest first: gather them newest first, so that slot k is the
        # k-th newest step in every row whatever the padding
        length, slots = batch["hist_len"].unsqueeze(1), torch.arange(mask.shape[1], device=mask.device)
        newest = (length - 1 - slots).clamp(min=0)
        steps = tokens[:, :-1].gather(1, newest.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))
        steps = steps * (slots < length).unsqueeze(-1)
        steps = nn.functional.pad(steps, (0, 0, 0, self.max_len - steps.shape[1]))[:, :self.max_len]
        return torch.cat([steps.flatten(1), tokens[:, -1]], dim=1), weights[:, -1, :-1]


def bst_space(t: ScopedTrial, spec: DataSpec) -> dict:
    return {
        **history_space(t, spec),
        "blocks": t.int("blocks", 1, 3),
        "heads": t.categorical("heads", [1, 2, 4, 8]),
        "position": t.categorical("position", ["time_gap", "position"]),
        "attention_dropout": t.float("attention_dropout", 0.0, 0.5),
        "output": t.categorical("output", ["all", "candidate"]),
    }


BST_CARD = ModelCard(
    "bst", "BST (Chen et al., 2019)", "behavior sequence",
    search_space=bst_space, build=BST, **HISTORY_NEEDS,
    defaults={**COMMON_DEFAULTS, "embed_dim": 16, "hidden": "1024-512-256", "dropout": 0.2, "batch_norm": False,
              # the paper's 8 heads (2 wide on a 16-wide behavior); 1, 2 and 4 wider heads are searched (2 heads
              # of 8 learned slower on small logs in a 2-epoch check)
              "blocks": 1, "heads": 8, "position": "time_gap", "attention_dropout": 0.2,
              # the paper concatenates every position's output ("all", searched); the candidate's alone is
              # tried first: an MLP input (L + 1) times wider learns too slowly on small logs
              "output": "candidate"},
    key_options=("blocks", "heads", "position", "output", "embed_dim"),
)
