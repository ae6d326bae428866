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


class ConsensusPair(PairBand):
    models: int                  # how many models' best trials rank the pair (strength above 0)


class FieldBand(TypedDict):
    """A field's permutation importance (drop of AUC, or rise of RMSE) with its band."""

    field: str
    importance: float
    low: float
    high: float


class PairStrength(TypedDict):
    """A pair in a model's own interaction measure (comparable within one model only)."""

    fields: list[str]
    strength: float


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
