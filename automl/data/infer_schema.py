"""Guessing a Schema from a table: the task, the label and every column's role, each with a reason.

All heuristics are vectorised pandas; type and uniqueness checks run on a sample of at most
``SAMPLE_ROWS`` rows, counts (missing, distinct) on the whole column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from automl.data.schema import SPLIT_VALUES, TASKS, ColumnInfo, Schema
from automl.data.timestamps import COMPACT_TIME_NAMES, EPOCH_SECONDS, compact_time_format, parse_timestamps
from automl.errors import DataError, SettingsError, clip

SAMPLE_ROWS = 200_000
ROW_ID_MIN_ROWS = 1000  # below this, an all-distinct column is not called a row id
FEW_VALUES = 10  # integer columns with at most this many values are categorical
LONG_TEXT_CHARS = 40
SEQUENCE_DELIMITERS = ("|", "^", ";", ",", " ")
SEQUENCE_MIN_SHARE = 0.05  # share of values that must contain the delimiter

LABEL_NAMES = ("label", "click", "clicked", "clk", "is_click", "is_clicked", "y", "target", "rating",
               "score", "purchase", "converted", "like", "liked")
USER_NAMES = ("user_id", "userid", "user", "uid", "u_id", "customer_id", "customerid", "member_id",
              "memberid", "member", "visitor_id", "account_id", "client_id", "reader_id", "buyer_id")
ITEM_NAMES = ("item_id", "itemid", "item", "iid", "i_id", "movie_id", "movieid", "product_id", "productid",
              "adgroup_id", "ad_id", "adid", "app_id", "appid", "article_id", "song_id", "track_id",
              "book_id", "video_id", "news_id", "post_id", "business_id", "sku", "sku_id", "asin",
              "goods_id", "poi_id", "course_id", "movie", "product", "song", "article", "book")
TIME_NAMES = ("timestamp", "time", "ts", "datetime", "date", "time_stamp", "event_time", "date_time",
              "unix_time", "unixtime", "unix_timestamp", "epoch", "created_at", "event_date", "dt", "hour", "day",
              "date_hour", "datehour")
# Column names that name a whole row (a row id); unique values under such a name are never a feature.
ROW_ID_NAMES = {"id", "row_id", "rowid", "index", "idx", "record_id", "event_id", "impression_id", "log_id",
                "sample_id", "request_id"}
# Anonymised names of the public CTR logs: Criteo's I1..I13 are counts, its C1..C26 and Avazu's C1, C14..C21
# are categorical codes, integers or hashes.
COUNT_NAME = re.compile(r"i\d+")
CODE_NAME = re.compile(r"c\d+")
QUANTITY_WORDS = {"age", "price", "cost", "amount", "count", "counts", "num", "number", "quantity", "qty",
                  "duration", "length", "size", "views", "clicks", "impressions", "score", "year", "years",
                  "income", "salary", "distance", "weight", "height", "total", "sum", "balance", "rank"}
ID_ROWS = 20_000        # sample rows on which the user and the item are proposed from the values
MAX_ID_COLUMNS = 100    # columns past which (a wide table of features) no user or item is proposed
MANY_TO_ONE = 1.02      # x determines y: each repeated x value goes with at most this many y values, on average
CROSSED = 1.5           # a user meets at least this many items on average, and an item this many users
SPARSE = 0.25           # at most this share of the user × item pairs occur (a log, not two crossed attributes)
FREE_TEXT_UNIQUE_SHARE = 0.2    # text with spaces this varied is titles or names, not categories
CODE_MAX_UNIQUE_SHARE = 0.5     # integer codes repeat: at most this share of the rows hold distinct values
COUNT_RHO = -0.5                # counts: the frequency of a value falls as the value grows (Spearman's rho)
TIME_SUFFIXES = ("_time", "_timestamp", "_ts", "_date", "_at")
ID_TOKENS = {"id", "ids", "key", "code", "uuid", "guid", "hash"}
NOT_ID_WORDS = {"paid", "valid", "invalid", "said", "rapid", "fluid", "void", "grid", "avoid", "android",
                "hybrid", "covid", "solid", "liquid", "acid", "mid", "bid", "kid", "lid", "did"}
CATEGORICAL_WORDS = {"zip", "zipcode", "postcode", "city", "country", "region", "state", "province",
                     "category", "cate", "genre", "brand", "gender", "sex", "occupation", "job", "type",
                     "group", "segment", "channel", "site", "domain", "device", "os", "platform",
                     "browser", "pid", "campaign", "customer", "shop", "store", "seller", "language",
                     "color", "model", "publisher", "advertiser", "banner", "position", "slot", "source"}
TRUE_WORDS = {"true", "t", "yes", "y", "click", "clicked", "positive", "pos", "buy", "bought",
              "purchase", "purchased", "like", "liked", "converted"}
FALSE_WORDS = {"false", "f", "no", "n", "noclick", "no_click", "not_click", "nonclick", "not_clicked",
               "unclicked", "negative", "neg", "dislike", "not_converted"}


class NoLabelError(DataError):
    """No label column, and no user and item to read the rows as positives: the user names the label.
    ``columns``: the table's, to pick it from."""

    def __init__(self, message: str, columns: list[str]):
        super().__init__(message)
        self.columns = columns


@dataclass(eq=False)
class _Profile:
    """What the heuristics need to know about one column."""

    name: str
    kind: str  # "bool" | "int" | "float" | "text" | "datetime" | "other"
    dtype: str
    n_rows: int
    n_missing: int
    n_unique: int
    examples: list[str]
    values: pd.Series  # non-missing values of the sample
    integral: bool  # numbers that are all whole

    def info(self, role: str, reason: str, delimiter: str | None = None, alternative: str | None = None
             ) -> ColumnInfo:
        return ColumnInfo(self.name, role, reason, self.dtype, self.n_unique, self.n_missing,
                          self.examples, delimiter, alternative=alternative)

    @property
    def unique_share(self) -> float:
        return self.n_unique / max(self.n_rows - self.n_missing, 1)


def infer_schema(
    frame: pd.DataFrame,
    *,
    label: str | None = None,
    task: str | None = None,
    roles: dict[str, str] | None = None,
) -> Schema:
    """Guess the task and each column's role; ``label``, ``task`` and ``roles`` override the guesses."""
    roles = roles or {}
    if frame.shape[1] == 0 or len(frame) == 0:
        raise DataError("the table has no rows or no columns; upload a file with a header and data rows.")
    if frame.columns.duplicated().any():
        dups = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
        raise DataError(f"the table has duplicate column names ({', '.join(dups)}); rename them.")
    sample = frame
    if len(frame) > SAMPLE_ROWS:
        rows = np.sort(np.random.default_rng(0).choice(len(frame), SAMPLE_ROWS, replace=False))
        sample = frame.iloc[rows]
    profiles = {str(c): _profile(frame[c], sample[c]) for c in frame.columns}
    label_name, label_reason = _pick_label(profiles, label, roles)
    if label_name is None:
        schema = Schema("implicit", "", _assign_roles(profiles, None, "", sample))
    else:
        task, task_reason, positive = _pick_task(profiles[label_name], task)
        schema = Schema(task, task_reason, _assign_roles(profiles, label_name, label_reason, sample), positive)
    schema = _apply_overrides(schema, roles, profiles) if roles else schema
    return _implicit_without_label(schema, task) if label_name is None else schema


# --- profiling ------------------------------------------------------------------------------------------


def _profile(column: pd.Series, sample: pd.Series) -> _Profile:
    """Counts on the whole column, kinds and examples from the sample."""
    kind = _kind(column)
    values = sample.dropna()
    if kind == "text":
        values = values[values.astype(str).str.strip() != ""]
    integral = kind == "int" or (kind == "float" and bool((values == np.round(values)).all()))
    return _Profile(
        name=str(column.name),
        kind=kind,
        dtype=str(column.dtype),
        n_rows=len(column),
        n_missing=int(column.isna().sum()),
        n_unique=_count_distinct(column, kind),
        examples=[_fmt(v) for v in values.head(1000).drop_duplicates().head(5)],
        values=values,
        integral=integral,
    )


def _count_distinct(column: pd.Series, kind: str) -> int:
    """Distinct non-missing values (floats by sorting, which beats hashing for them)."""
    if kind == "float":
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        return len(np.unique(values[~np.isnan(values)]))
    return int(column.nunique())


def _kind(column: pd.Series) -> str:
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_string_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return "text"
    return "other"


def _fmt(value) -> str:
    """A value as a person would write it (whole floats without '.0')."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _norm(name: str) -> str:
    """'userId' / 'User ID' → 'user_id'."""
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.strip())
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def _looks_like_id(name: str) -> bool:
    tokens = _norm(name).split("_")
    return any(t in ID_TOKENS or (t.endswith("id") and 3 <= len(t) <= 10 and t not in NOT_ID_WORDS)
               for t in tokens)


def _looks_categorical(name: str) -> bool:
    return _looks_like_id(name) or bool(CATEGORICAL_WORDS & set(_norm(name).split("_")))


# --- label and task -------------------------------------------------------------------------------------


def _pick_label(profiles: dict[str, _Profile], label: str | None, roles: dict[str, str]) -> tuple[str | None, str]:
    """The label column and why: the user's choice, a label-like name, else a 0/1-valued column;
    (None, "") when there is none."""
    chosen = [name for name, role in roles.items() if role == "label"] or ([label] if label else [])
    if chosen:
        if chosen[-1] not in profiles:
            raise NoLabelError(f"label column {chosen[-1]!r} is not in the table; the columns are: "
                               f"{', '.join(profiles)}.", list(profiles))
        return chosen[-1], "set by you"
    by_name = {_norm(name): name for name in reversed(profiles)}
    for wanted in LABEL_NAMES:
        if wanted in by_name:
            return by_name[wanted], f"name {by_name[wanted]!r} looks like a label"
    for p in profiles.values():
        classes = _classes(p.values)
        if len(classes) == 2 and p.kind in ("bool", "int", "float") and positive_value(classes):
            return p.name, f"only the values {_fmt(classes[0])} and {_fmt(classes[1])} → label"
    return None, ""


def _implicit_without_label(schema: Schema, task: str | None) -> Schema:
    """A table without a label is a log of positive interactions (task implicit) when it has a
    user and an item column; otherwise the label is missing."""
    user, item = schema.names("user"), schema.names("item")
    if task in (None, "implicit") and user and item:
        reason = (f"no label column, but user {user[0]!r} and item {item[0]!r} → implicit feedback "
                  "(every row is a positive interaction; top-K ranking)")
        return replace(schema, task_reason="set by you" if task else reason)
    raise NoLabelError(
        f"no label column found in the table (columns: {', '.join(schema.all_names())}); name it with "
        "--label COLUMN (CLI) or pick it on the Data page; a log of positive interactions without a label "
        "needs a user and an item column (--role COLUMN=user --role COLUMN=item).", schema.all_names()
    )


def _classes(values: pd.Series, limit: int = 3) -> list:
    """Up to ``limit`` distinct values, sorted when they are comparable."""
    distinct = values.drop_duplicates().head(limit).tolist()
    try:
        return sorted(distinct)
    except TypeError:
        return distinct


def positive_value(classes: list) -> str | None:
    """The value (as text) that means a positive event among <= 2 label classes, or None.

    {0,1} and {-1,1} → "1"; booleans → "True"; two yes/no-like words → the positive word as written.
    """
    if len(classes) > 2 or not classes:
        return None
    if all(isinstance(c, bool | np.bool_) for c in classes):
        return "True"
    numbers = pd.to_numeric(pd.Series([str(c).strip() for c in classes]), errors="coerce")
    if numbers.notna().all():
        return "1" if set(numbers) <= {0, 1} or set(numbers) <= {-1, 1} else None
    words = [str(c).strip().lower() for c in classes]
    positives = [c for c, w in zip(classes, words, strict=True) if w in TRUE_WORDS]
    negatives = [w for w in words if w in FALSE_WORDS]
    if len(positives) == 1 and len(positives) + len(negatives) == len(classes):
        return str(positives[0]).strip()
    return None


def _pick_task(label: _Profile, task: str | None) -> tuple[str, str, str | None]:
    """The task, why, and (for ctr) the positive label value."""
    classes = _classes(label.values)
    positive = positive_value(classes)
    if task is not None:
        if task not in TASKS:
            raise SettingsError(f"task {task!r} is unknown; use one of {', '.join(TASKS)}")
        return task, "set by you", positive if task in ("ctr", "implicit") else None
    name = label.name
    if positive is not None:
        shown = " and ".join(repr(_fmt(c)) for c in classes)
        return "ctr", f"label {name!r} holds only {shown} → ctr (positive = {positive!r})", positive
    if label.values.empty:
        return "ctr", f"label {name!r} is empty in every row", None
    numbers = label.values
    if label.kind not in ("int", "float"):
        numbers = pd.to_numeric(label.values, errors="coerce")
    if numbers.notna().all():
        low, high = _fmt(numbers.min()), _fmt(numbers.max())
        return "rating", f"label {name!r} holds {label.n_unique:,} numbers from {low} to {high} → rating", None
    shown = ", ".join(repr(_fmt(c)) for c in classes)
    return "ctr", f"label {name!r} holds text ({shown}) that is not yes/no-like; recode it for ctr", None


# --- feature roles --------------------------------------------------------------------------------------


def _assign_roles(profiles: dict[str, _Profile], label: str, label_reason: str,
                  sample: pd.DataFrame) -> list[ColumnInfo]:
    """Every column's ColumnInfo, in file order; at most one user, item and timestamp column. The user
    and the item by name, else proposed from the values of the ``sample`` rows (``_ids_by_values``)."""
    others = [p for name, p in profiles.items() if name != label]
    user = _by_name([p for p in others if p.n_unique > 1], USER_NAMES)
    item = _by_name([p for p in others if p.n_unique > 1 and p is not user], ITEM_NAMES)
    named = {p.name for p in (user, item) if p is not None}
    time, time_reason, time_format = _pick_timestamp([p for p in others if p not in (user, item)])
    rest = [p for p in others if p not in (user, item, time)]
    roles = {p.name: _feature_role(p) for p in rest}
    by_values = _ids_by_values(rest, roles, user, item, sample) if len(named) < 2 else {}
    user = user or next((p for p in rest if by_values.get(p.name, ("",))[0] == "user"), None)
    item = item or next((p for p in rest if by_values.get(p.name, ("",))[0] == "item"), None)
    columns = []
    for name, p in profiles.items():
        if name == label:
            columns.append(p.info("label", label_reason))
        elif name in named:
            role = "user" if p is user else "item"
            article = "a user" if p is user else "an item"
            columns.append(p.info(role, f"name {name!r} looks like {article} id; {p.n_unique:,} distinct values"))
        elif name in by_values:
            role, reason, alternative = by_values[name]
            columns.append(p.info(role, reason, None, alternative))
        elif p is time:
            columns.append(replace(p.info("timestamp", time_reason), time_format=time_format))
        else:
            key = next((k for k in (item, user) if k is not None and _relabels(p, k)), None)
            columns.append(p.info("ignore", f"one {name!r} per {key.name!r} (titles or names of the id: they add "
                                  "nothing to it) → ignored; set categorical to use it", None, "categorical")
                           if key is not None else p.info(*roles[name]))
    return columns


def _ids_by_values(columns: list[_Profile], roles: dict[str, tuple], user: _Profile | None, item: _Profile | None,
                   sample: pd.DataFrame) -> dict[str, tuple[str, str, str]]:
    """The user and the item that no name gives, proposed from the values of ID_ROWS ``sample`` rows:
    {column: (role, reason, alternative)}, each guess unsure. An id column (``_id_like``) that another column
    determines (many-to-one, as a story its topic; one-to-one: the later one) is an attribute, not an id.
    Two ids left (a named user or item counted) that cross (each value of one meets CROSSED values of the
    other or more, on average) sparsely (at most SPARSE of their pairs occur, as in a log; an age and an
    occupation meet in most of theirs) are the user and the item: beside a named one, the other role; else
    the item is the one that determines other columns (stories their topic), or the later one in the file.
    Nothing is proposed past MAX_ID_COLUMNS columns (a wide table of features)."""
    named = [p for p in (user, item) if p is not None]
    ids = [p for p in columns if _id_like(p, roles[p.name])]
    if not ids or len(columns) > MAX_ID_COLUMNS:
        return {}
    rows = np.arange(len(sample))
    if len(sample) > ID_ROWS:
        rows = np.sort(np.random.default_rng(0).choice(len(sample), ID_ROWS, replace=False))
    label_of = {str(c): c for c in sample.columns}
    position = {name: i for i, name in enumerate(label_of)}
    codes: dict[str, np.ndarray] = {}

    def code(p: _Profile) -> np.ndarray:
        if p.name not in codes:
            codes[p.name] = pd.factorize(sample[label_of[p.name]].iloc[rows])[0]
        return codes[p.name]

    def attribute(y: _Profile, of: _Profile) -> bool:
        above = of.n_unique > y.n_unique or of.n_unique == y.n_unique and position[of.name] < position[y.name]
        return of is not y and above and _determines(code(of), code(y))

    left = list(named)
    for y in sorted(ids, key=lambda p: -p.n_unique):
        if not any(attribute(y, x) for x in [*columns, *named]):
            left.append(y)
            if len(left) > 2:
                return {}
    if len(left) != 2:
        return {}
    first, second = sorted(left, key=lambda p: position[p.name])
    n_first, n_second, n_pairs = _distinct(code(first), code(second))
    if min(n_pairs / n_first, n_pairs / n_second) < CROSSED or n_pairs > SPARSE * n_first * n_second:
        return {}
    meets = {first.name: n_pairs / n_first, second.name: n_pairs / n_second}
    if named:
        (known,) = named
        found = second if first is known else first
        role = "item" if known is user else "user"
        reason = (f"{known.name!r} is named as the {'user' if role == 'item' else 'item'} and {found.name!r} crosses "
                  f"it: {found.n_unique:,} ids, each meeting about {meets[found.name]:.1f} distinct {known.name!r} → "
                  f"{role}")
        return {found.name: (role, reason, "categorical")}
    attributes = {p.name: [q.name for q in columns if q not in left and attribute(q, p)] for p in left}
    item_id = first if attributes[first.name] and not attributes[second.name] else second
    user_id = second if item_id is first else first
    why_item = (f"it determines {', '.join(map(repr, attributes[item_id.name][:3]))} (many-to-one)"
                if attributes[item_id.name] else "it comes later in the file")
    user_reason = (f"no name says user or item: {user_id.n_unique:,} ids, each meeting about "
                   f"{meets[user_id.name]:.1f} distinct {item_id.name!r} → user (or {item_id.name!r} is the user: "
                   "swap them)")
    item_reason = (f"no name says user or item: {item_id.n_unique:,} ids, each meeting about "
                   f"{meets[item_id.name]:.1f} distinct {user_id.name!r}, and {why_item} → item (or "
                   f"{user_id.name!r} is the item: swap them)")
    return {user_id.name: ("user", user_reason, "item"), item_id.name: ("item", item_reason, "user")}


def _id_like(p: _Profile, role: tuple) -> bool:
    """A column that could hold user or item ids: categorical (text, or whole numbers that behave like codes),
    more than FEW_VALUES values, each in two rows or more on average, no anonymised code's name (C1..C26) and
    no numbers that read as epoch times (a timestamp no name gives)."""
    return (role[0] == "categorical" and p.n_unique > FEW_VALUES and p.unique_share <= CODE_MAX_UNIQUE_SHARE
            and not CODE_NAME.fullmatch(_norm(p.name)) and not (p.kind in ("int", "float") and _time_values(p)))


def _distinct(x: np.ndarray, y: np.ndarray) -> tuple[int, int, int]:
    """(distinct x, distinct y, distinct (x, y) pairs) over the rows where both are present; codes [n], -1 missing."""
    both = (x >= 0) & (y >= 0)
    x, y = x[both], y[both]
    return len(np.unique(x)), len(np.unique(y)), len(np.unique(x * (int(y.max(initial=0)) + 1) + y))


def _determines(x: np.ndarray, y: np.ndarray) -> bool:
    """Whether each value of ``x`` found in two rows or more goes with one value of ``y`` (many-to-one, at
    most MANY_TO_ONE values on average); codes [n], -1 missing."""
    both = (x >= 0) & (y >= 0)
    x, y = x[both], y[both]
    repeated = np.bincount(x)[x] >= 2 if len(x) else x.astype(bool)
    if not repeated.any():
        return False
    n_x, _, n_pairs = _distinct(x[repeated], y[repeated])
    return n_pairs <= MANY_TO_ONE * n_x


def _relabels(p: _Profile, key: _Profile) -> bool:
    """True when ``p`` is text with spaces (titles, names) in one-to-one correspondence with the id
    column ``key`` on the sample rows, where the ids repeat (on average in 1.5 rows or more), so
    the pairing is a fact of the data and not of a sample too small to repeat any id."""
    if p.kind != "text" or p.n_unique <= FEW_VALUES or p.values.astype(str).str.contains(" ", regex=False).mean() <= 0.5:
        return False
    pairs = pd.DataFrame({"text": p.values, "key": key.values}).dropna()
    n_keys = pairs["key"].nunique()
    return len(pairs) >= 1.5 * n_keys and pairs["text"].nunique() == n_keys == len(pairs.drop_duplicates())


def _by_name(profiles: list[_Profile], names: tuple[str, ...]) -> _Profile | None:
    """The column whose normalised name comes first in ``names``."""
    ranked = [(names.index(_norm(p.name)), i, p) for i, p in enumerate(profiles) if _norm(p.name) in names]
    return min(ranked, key=lambda r: r[:2])[2] if ranked else None


def _pick_timestamp(profiles: list[_Profile]) -> tuple[_Profile | None, str, str | None]:
    """The first datetime column, or time-named column whose values are epoch times, dates or
    compact digit times; (column, why, its compact format or None)."""
    for p in profiles:
        if p.kind == "datetime" and p.n_unique > 1:
            return p, "date/time values → timestamp", None
        norm = _norm(p.name)
        if (norm in TIME_NAMES or norm.endswith(TIME_SUFFIXES)) and p.n_missing == 0 and p.n_unique >= 1:
            compact = compact_time_format(p.values) if p.kind in ("int", "float", "text") else None
            if compact:
                return p, (f"name {p.name!r} looks like a time and the values are {COMPACT_TIME_NAMES[compact]} "
                           "digits → timestamp"), compact
            what = _time_values(p) if p.n_unique > 1 else None
            if what:
                return p, f"name {p.name!r} looks like a time and the values are {what} → timestamp", None
    return None, "", None


def _time_values(p: _Profile) -> str | None:
    """'epoch seconds' / 'epoch milliseconds' / 'dates' when the values are that, else None."""
    values = p.values
    if p.kind == "text":
        numbers = pd.to_numeric(values, errors="coerce")
        values = numbers if numbers.notna().all() else values
    if pd.api.types.is_numeric_dtype(values.dtype) and p.kind != "bool":
        low, high = float(values.min()), float(values.max())
        if EPOCH_SECONDS[0] <= low and high <= EPOCH_SECONDS[1]:
            return "epoch seconds"
        if EPOCH_SECONDS[0] * 1000 <= low and high <= EPOCH_SECONDS[1] * 1000:
            return "epoch milliseconds"
        return None
    try:
        parse_timestamps(values)
    except (DataError, pd.errors.OutOfBoundsDatetime):      # not dates, or past pandas' range (1677 to 2262)
        return None
    return "dates"


def _feature_role(p: _Profile) -> tuple:
    """(role, reason[, delimiter[, alternative]]) for a column that is not the label, user, item or
    timestamp; ``alternative``: the other role a person might well choose where the guess rests on
    the values alone (shown with the guess, one click away in the app)."""
    if p.n_unique == 0:
        return "ignore", "empty in every row → ignored"
    if p.n_unique == 1:
        return "ignore", "a single value in every row → ignored"
    if p.kind == "text":
        return _text_role(p)
    if p.kind in ("int", "float"):
        return _number_role(p)
    return "categorical", f"{p.n_unique:,} distinct values → categorical"


def _is_row_id(p: _Profile) -> bool:
    """Unique per row: at least 99% distinct on ROW_ID_MIN_ROWS rows or more, or every value
    distinct under a row-id name (``id``, ``row_id``, ...) at any size."""
    if _norm(p.name) in ROW_ID_NAMES and p.n_unique == p.n_rows - p.n_missing and p.n_rows > 1:
        return True
    return p.n_rows >= ROW_ID_MIN_ROWS and p.unique_share >= 0.99


def _row_id_alternative(p: _Profile) -> str | None:
    """A row id found from its values alone may be a fine-grained id after all: categorical."""
    return None if _norm(p.name) in ROW_ID_NAMES else "categorical"


def _row_id_reason(p: _Profile) -> str:
    every = "every" if p.n_unique == p.n_rows else "almost every"
    return f"{every} value is different (a row id) → ignored"


def _split_values(p: _Profile) -> list[str] | None:
    """The column's distinct values when they all name a split (train and test at least), else None."""
    if p.n_unique > len(SPLIT_VALUES):
        return None
    values = sorted(p.values.astype(str).str.strip().str.lower().unique())
    parts = {SPLIT_VALUES.get(v) for v in values}
    return values if None not in parts and {"train", "test"} <= parts and p.n_missing == 0 else None


def _text_role(p: _Profile) -> tuple:
    split = _split_values(p)
    if split is not None:
        return "split", f"values {', '.join(split)} name each row's part → the given split (train, validation, test)"
    text = p.values.astype(str)
    delimiter = _sequence_delimiter(text, SEQUENCE_MIN_SHARE)
    if delimiter is not None:
        example = text[text.str.contains(delimiter, regex=False)].iloc[0]
        shown = "space" if delimiter == " " else repr(delimiter)
        return "sequence", f"values like {clip(example, 30)!r}: {shown}-delimited lists → sequence", delimiter
    lengths = text.str.len()
    spaced = text.str.contains(" ", regex=False).mean() > 0.5
    if lengths.median() >= LONG_TEXT_CHARS and spaced:
        return "ignore", f"long free text (about {int(lengths.median())} characters) → ignored", None, "categorical"
    if spaced and p.unique_share >= FREE_TEXT_UNIQUE_SHARE and p.n_unique > FEW_VALUES:
        return "ignore", (f"free text (titles or names: {p.n_unique:,} distinct values, most with spaces) → ignored; "
                          "set categorical to use it as a field"), None, "categorical"
    if _is_row_id(p):
        return "ignore", _row_id_reason(p), None, _row_id_alternative(p)
    return "categorical", f"text with {p.n_unique:,} distinct values → categorical"


def _number_role(p: _Profile) -> tuple:
    norm = _norm(p.name)
    if COUNT_NAME.fullmatch(norm):
        return "numeric", f"name {p.name!r} is a Criteo-style count (I1..I13); {p.n_unique:,} distinct values → numeric"
    if CODE_NAME.fullmatch(norm):
        return "categorical", (f"name {p.name!r} is a Criteo/Avazu-style anonymised code (C1..C26); "
                               f"{p.n_unique:,} distinct values → categorical")
    if not p.integral and not _looks_categorical(p.name):
        return "numeric", f"float values with {p.n_unique:,} distinct values → numeric"
    if _is_row_id(p):
        return "ignore", _row_id_reason(p), None, _row_id_alternative(p)
    if _looks_categorical(p.name):
        return "categorical", f"name {p.name!r} looks like an id or category; {p.n_unique:,} distinct values"
    if p.n_unique <= FEW_VALUES:
        return "categorical", f"whole numbers with only {p.n_unique} distinct values → categorical", None, "numeric"
    if QUANTITY_WORDS & set(norm.split("_")):
        return "numeric", f"name {p.name!r} names a quantity; whole numbers with {p.n_unique:,} distinct values → numeric"
    if p.unique_share <= CODE_MAX_UNIQUE_SHARE and not _counts_like(p):
        return "categorical", (f"whole numbers that behave like codes: {p.n_unique:,} distinct values, each repeated, "
                               "the most frequent spread over the range rather than small counts → categorical "
                               "(set numeric if they are amounts)"), None, "numeric"
    return ("numeric", f"whole numbers with {p.n_unique:,} distinct values, the most frequent small → numeric", None,
            "categorical")


def _counts_like(p: _Profile) -> bool:
    """Whether the values are counts: the smaller a value, the more often it occurs (Spearman's
    rho of value against frequency over the distinct values at most ``COUNT_RHO``)."""
    from scipy.stats import spearmanr  # 0.4 s to import: only when a column is asked about

    counts = p.values.value_counts()
    values = counts.index.to_numpy(dtype=np.float64)
    rho = spearmanr(values, counts.to_numpy()).statistic if len(values) > 2 else 0.0
    return bool(np.isfinite(rho) and rho <= COUNT_RHO)


def _sequence_delimiter(text: pd.Series, min_share: float, check_tokens: bool = True) -> str | None:
    """The delimiter splitting the values into id-like lists in more than ``min_share`` of the rows."""
    text = text.head(10_000)
    best, best_share = None, min_share
    for delimiter in SEQUENCE_DELIMITERS:
        has = text.str.contains(delimiter, regex=False)
        share = float(has.mean()) if len(text) else 0.0
        if share > best_share and (not check_tokens or _tokens_ok(text[has], delimiter)):
            best, best_share = delimiter, share
    return best


def _tokens_ok(text: pd.Series, delimiter: str) -> bool:
    """Tokens are short and non-empty; with ',' they hold no spaces, with ' ' they are numbers."""
    tokens = text.str.strip().str.split(delimiter, regex=False).explode().str.strip()
    if (tokens == "").mean() > 0.05 or (tokens.str.len() > LONG_TEXT_CHARS).any():
        return False
    if delimiter == ",":
        return not tokens.str.contains(r"\s").any()
    if delimiter == " ":
        return bool(tokens.str.fullmatch(r"-?\d+").all())
    return True



# --- user overrides -------------------------------------------------------------------------------------


def _apply_overrides(schema: Schema, roles: dict[str, str], profiles: dict[str, _Profile]) -> Schema:
    """Apply the user's roles last; a user/item pick demotes the guessed one, or swaps the pair guessed from
    the values (the picked column's guessed role goes to the other); find sequence delimiters."""
    guessed = {c.name: c.role for c in schema.columns}
    for role, other in (("user", "item"), ("item", "user")):
        picked = [name for name, r in roles.items() if r == role]
        for c in schema.columns:
            if not picked or c.role != role or c.name in roles:
                continue
            swapped = c.alternative == other and guessed.get(picked[0]) == other
            new_role = other if swapped else "categorical"
            why = f"you set {picked[0]!r} as the {role}" if swapped else f"you picked {picked[0]!r} instead"
            c.role, c.reason, c.alternative = new_role, f"{c.reason}; {why} → {new_role}", None
    schema = schema.with_roles(roles)
    for c in schema.columns:
        if c.role == "timestamp" and c.time_format is None:
            c.time_format = compact_time_format(profiles[c.name].values)
        if c.role == "sequence" and c.delimiter is None:
            c.delimiter = _sequence_delimiter(profiles[c.name].values.astype(str), 0.0, check_tokens=False)
    return schema
