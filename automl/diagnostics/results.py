"""The shapes of the diagnostics results. They are JSON (kept in ``cb_diagnostics``, printed by
``crossboard diagnose --json``), so they are TypedDicts: plain dicts with named, typed keys.

A band is the mean over repeats with mean ± 2 standard errors as ``low``/``high`` (the study consensus: the mean over
models with the 95% percentile bootstrap over which models are counted, ``automl.diagnostics.consensus``)."""

from __future__ import annotations

from typing import NotRequired, TypedDict

from automl.errors import CrossBoardError


class Band(TypedDict):
    strength: float
    low: float
    high: float


class PairBand(TypedDict):
    """A field pair's interaction strength (share of the output's variance) with its band."""

    fields: list[str]            # [a, b]
    strength: float
    low: float
    high: float


class PairStrength(TypedDict):
    """A pair in a model's own interaction measure (comparable within one model only)."""

    fields: list[str]
    strength: float


class FoldedPair(PairBand):
    """An interaction with the shadows it carries (``automl.diagnostics.shadows``)."""

    also: list[PairStrength]     # the shadows folded into it, with their own strengths


class ShadowPair(PairBand):
    """A pair with a field that determines others, measured with that field's determined fields held fixed."""

    conditioned: Band
    source: list[str] | None     # the pair it is a shadow of; None: it stands on its own


class NotInteraction(TypedDict):
    """A pair of a field with one it determines."""

    fields: list[str]
    strength: float
    reason: str                  # "category is determined by item_id"


class FoldedPairs(TypedDict):
    folded: list[FoldedPair]     # strongest first
    shadows: list[ShadowPair]
    not_interactions: list[NotInteraction]


class DataPairs(FoldedPairs):
    """The model-free pairs of the training rows (``automl.diagnostics.data_pairs``)."""

    pairs: list[PairBand]        # strongest first, before folding
    rows: int                    # training rows sampled


class DependencyInfo(TypedDict):
    source: str
    determined: str
    share: float                 # of the training rows that follow the map
    alias: bool                  # the two determine each other


class Quality(TypedDict):
    """A model's validation quality beside the constant predictor's (the consensus weighs its vote by them)."""

    metric: str                  # "auc" or "rmse"
    model: float
    constant: float


class ConsensusPair(PairBand):
    models: int                  # how many models' best trials rank the pair (strength above 0)
    also: NotRequired[list[list[str]]]       # its shadows, as any voter folded them
    data: NotRequired[float]                 # the data voter's scaled strength


class FieldBand(TypedDict):
    """A field's permutation importance (drop of AUC, or rise of RMSE) with its band."""

    field: str
    importance: float
    low: float
    high: float


class TrialDiagnostics(TypedDict):
    """One trial's diagnostics (``automl.diagnostics.trial.diagnose``)."""

    trial: int
    model: str
    rows: int                    # validation rows sampled
    seconds: float               # to compute them
    metric: str                  # "auc" or "rmse": the quality the field importances are in
    fields: list[FieldBand]      # most important first
    pairs: list[PairBand]        # strongest first
    pair_fields: int             # pairs are among this many most important fields ...
    of_fields: int               # ... of this many
    intrinsic: dict[str, list[PairStrength]]   # the model's own view: method -> pairs, strongest first
    agreement: dict[str, float | None]         # method -> Spearman's rho with ``pairs``
    attention: NotRequired[dict]               # history attention (``trial.attention_summary``)
    share: NotRequired[dict[str, float]]       # "wide", "deep", "correlation" of the logit's parts
    # since the dependencies (older results lack them): the maps between fields, ``pairs`` folded with them
    # (``automl.diagnostics.shadows``), the model-free pairs of the data (``automl.diagnostics.data_pairs``),
    # and the model's validation quality
    dependencies: NotRequired[list[DependencyInfo]]
    folded: NotRequired[FoldedPairs]
    data: NotRequired[DataPairs]
    quality: NotRequired[Quality]


class DiagnosticsFailure(TypedDict):
    """What is kept when a trial's diagnostics could not be computed."""

    trial: int
    model: str
    error: str


class DiagnosticsFailed(CrossBoardError):
    """A trial's kept diagnostics are a failed computation (``DiagnosticsFailure``)."""

    def __init__(self, failure: DiagnosticsFailure):
        self.failure = failure
        super().__init__(f"trial {failure.get('trial')}'s diagnostics ({failure.get('model', '?')}) failed: "
                         f"{failure['error']}")


def kept_diagnostics(stored: TrialDiagnostics | DiagnosticsFailure) -> TrialDiagnostics:
    """A trial's kept diagnostics; DiagnosticsFailed when they are a failed computation's error."""
    if "error" in stored:
        raise DiagnosticsFailed(stored)
    return stored
