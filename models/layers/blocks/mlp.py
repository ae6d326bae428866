"""The multi-layer perceptron used by every deep model."""

from __future__ import annotations

from torch import nn

from models.layers.blocks.dice import Dice

ACTIVATIONS = {"relu": nn.ReLU, "prelu": nn.PReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "elu": nn.ELU}


class MLP(nn.Module):
    """[B, in_dim] -> [B, hidden[-1]] (or [B, in_dim] when ``hidden`` is empty).

    Each layer: Linear -> (BatchNorm) -> activation -> (Dropout); ``activation`` is one of
    ``ACTIVATIONS`` or ``"dice"`` (DIN's, with statistics per unit).
    """

    def __init__(self, in_dim: int, hidden: tuple[int, ...], dropout: float = 0.0,
                 batch_norm: bool = False, activation: str = "relu"):
        super().__init__()
        layers: list[nn.Module] = []
        for width in hidden:
            layers.append(nn.Linear(in_dim, width))
            if batch_norm:
                layers.append(nn.BatchNorm1d(width))
            layers.append(Dice(width) if activation == "dice" else ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            in_dim = width
        self.layers = nn.Sequential(*layers)
        self.out_dim = in_dim

    def forward(self, x):
        return self.layers(x)


def first_linear(mlp: MLP, head: nn.Linear) -> nn.Linear:
    """The first linear map that reads ``mlp``'s input: its first layer, or ``head`` (the layer
    after it) when it has no hidden layer."""
    return mlp.layers[0] if len(mlp.layers) else head
