"""The Schema: the task and each column's role, with the reason for every guess.

A Schema is plain data (JSON round-trip) so the UI can show it, the user can override it and
the database can store it with the dataset.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace

from automl.errors import SettingsError

ROLES = ("label", "user", "item", "categorical", "numeric", "timestamp", "sequence", "split", "ignore")
# a ``split`` column names each row's part, as published benchmarks ship their own split
SPLIT_VALUES = {"train": "train", "training": "train", "trn": "train", "valid": "val", "validation": "val",
                "val": "val", "dev": "val", "test": "test", "testing": "test", "tst": "test"}
TASKS = ("ctr", "rating", "implicit")
# Roles whose values become categorical fields (embedded ids).
CATEGORICAL_ROLES = ("user", "item", "categorical")
CROSSABLE_ROLES = (*CATEGORICAL_ROLES, "numeric")     # Wide & Deep crosses a numeric column by its quantile bucket
METRICS = {"ctr": ("auc", "logloss", "gauc"), "rating": ("rmse", "mae")}   # gauc: with a user column
# implicit top-K: the leaderboard's columns (K = 10); a study may pick any cutoff in TOP_K instead.
TOP_K = (1, 3, 5, 10, 20, 50, 100)
RANKING_METRICS = (*(f"{name}@{k}" for k in TOP_K for name in ("ndcg", "hr", "recall")), "mrr")
METRICS["implicit"] = ("ndcg@10", "hr@10", "recall@10", "mrr")
FULL_CORPUS = "full "      # prefix of a test metric ranked against every item, beside the sampled candidates
MAXIMIZE = {"auc", "gauc", *RANKING_METRICS, *(FULL_CORPUS + m for m in RANKING_METRICS)}
# what the leaderboard shows: the metrics one can select on, and for ctr the logloss before
# calibration and the expected calibration error
SHOWN_METRICS = {**METRICS, "ctr": (*METRICS["ctr"], "logloss_raw", "ece")}
DEFAULT_CANDIDATES = 99     # implicit: sampled items ranked with each held-out one (He et al., 2017)


@dataclass
class ColumnInfo:
    """One column of the uploaded table."""

    name: str
    role: str
    reason: str
    dtype: str = ""
    n_unique: int = 0
    n_missing: int = 0
    examples: list[str] = field(default_factory=list)
    delimiter: str | None = None  # sequence columns only
    time_format: str | None = None  # timestamp columns written as digits, e.g. "%y%m%d%H" (Avazu's hour)
    alternative: str | None = None  # an unsure guess: the other role a person might well choose


@dataclass
class Schema:
    """The task and the columns, in file order."""

    task: str
    task_reason: str
    columns: list[ColumnInfo]
    # For ``ctr``: the label value (as text) that means a positive event, e.g. "1", "+1", "yes".
    positive_label: str | None = None
    # The sequence column that lists past item ids (``automl.data.history_column.item_history_column``), found
    # when the dataset is saved: it lets the history models run without a timestamp.
    item_history: str | None = None
    # Whether the timestamp also gives two categorical fields, its hour of day and its weekday (UTC).
    time_fields: bool = False

    @property
    def label(self) -> str | None:
        names = self.names("label")
        return names[0] if names else None

    def names(self, *roles: str) -> list[str]:
        return [c.name for c in self.columns if c.role in roles]

    def column(self, name: str) -> ColumnInfo:
        for c in self.columns:
            if c.name == name:
                return c
        raise SettingsError(f"no column named {name!r}; the columns are: {', '.join(self.all_names())}")

    def all_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def with_roles(self, roles: dict[str, str], task: str | None = None) -> Schema:
        """A copy with the given column roles (and task) overridden by the user."""
        columns = [replace(c) for c in self.columns]
        by_name = {c.name: c for c in columns}
        for name, role in roles.items():
            if name not in by_name:
                raise SettingsError(
                    f"--role names column {name!r}, which the file does not have; "
                    f"the columns are: {', '.join(by_name)}"
                )
            if role not in ROLES:
                raise SettingsError(f"role {role!r} for column {name!r} is unknown; use one of {', '.join(ROLES)}")
            if role == "label":
                for other in columns:
                    if other.role == "label" and other.name != name:
                        other.role, other.reason = "ignore", f"replaced as label by {name!r} (set by you)"
            by_name[name].role, by_name[name].reason, by_name[name].alternative = role, "set by you", None
        if task is not None and task not in TASKS:
            raise SettingsError(f"task {task!r} is unknown; use one of {', '.join(TASKS)}")
        return replace(
            self,
            columns=columns,
            task=task or self.task,
            task_reason="set by you" if task else self.task_reason,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Schema:
        data = json.loads(text)
        data["columns"] = [ColumnInfo(**c) for c in data["columns"]]
        return cls(**data)
