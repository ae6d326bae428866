"""Data: upload a table (or name a file on the server), check the inferred roles (with their reasons) and
the task, save it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from automl.data import datasets
from automl.data.infer_schema import NoLabelError
from automl.data.names import derived_name
from automl.data.schema import ROLES, TASKS, ColumnInfo, Schema
from automl.data.validate import validate
from automl.errors import CrossBoardError
from automl.features.dependencies import compact, describe, field_dependencies
from ui import common

FILE_TYPES = ["csv", "tsv", "txt", "data", "dat", "parquet", "pq", "libfm", "libsvm", "svm"]   # + MovieLens
DELIMITERS = {"auto-detect": None, "comma ,": ",", "tab": "\t", "semicolon ;": ";", "pipe |": "|",
              "space": " ", "double colon ::": "::"}
PREVIEW_ROWS = 20
NAMES_OPTION = "Name the columns myself (a file without a header line)"
# what to change on this page when reading fails, or when the roles cannot be saved
READING_FIX = (f"To fix it here: change the **Reading options** above (the delimiter; for a file without a header "
               f"line, tick *{NAMES_OPTION}* and type the names) and the file is read again.")
ROLES_FIX = "To fix it here: pick the right **role** for that column in the table above (or the task)."


def reading_options() -> tuple[str | None, list[str] | None, str | None, bool]:
    """The optional delimiter, the column names for a file without a header line, the label column
    when the inferred one is wrong or none was found, and whether the file is read (not while the
    names are still to be typed)."""
    with st.expander("Reading options (delimiter, column names, label column)"):
        delimiter = DELIMITERS[st.selectbox("Delimiter", list(DELIMITERS), key="data_delimiter")]
        headerless = st.checkbox(NAMES_OPTION, key="data_headerless",
                                 help="CrossBoard reads a first line that looks like data, not names, as a row "
                                      "and names the columns itself; names that repeat the first line's cells "
                                      "read that line as the header")
        names = None
        if headerless:
            text = st.text_input("Column names, comma-separated, one per field",
                                 placeholder="click, user_id, item_id, price", key="data_names")
            names = [n.strip() for n in text.split(",")] if text.strip() else None
            if names is None:
                st.info("Type the column names to read the file with them; it is read again once they are given.")
        label = st.text_input("Label column (leave empty to let CrossBoard find it)", key="data_label").strip()
    return delimiter, names, label or None, not headerless or names is not None


def first_line_as_header(cells: list[str]) -> None:
    """Read the file again with its first line's cells as the column names (so that line is the header)."""
    st.session_state["data_headerless"] = True
    st.session_state["data_names"] = ", ".join(cells)


def take_label() -> None:
    st.session_state["data_label"] = st.session_state["data_label_pick"]


def label_picker(columns: list[str]) -> None:
    """The table's columns to pick the label from, one click (it fills the Reading options' label field)."""
    st.selectbox("Pick the label column", ["", *columns], key="data_label_pick", on_change=take_label,
                 help="the column that says what happened (a click, a rating); it fills the Label column field "
                      "of the Reading options")


def given_split_uploads() -> dict:
    """Optional separate validation and test files (a published benchmark's own split)."""
    if not st.checkbox("Separate validation and test files (a benchmark's own split)", key="data_given_split",
                       help="the table above then holds the training rows; the files are joined by a `split` "
                            "column, every study keeps that split, and test rows never choose epochs or trials"):
        return {}
    left, right = st.columns(2)
    files = {"valid": left.file_uploader("Validation rows", type=FILE_TYPES, key="data_upload_valid"),
             "test": right.file_uploader("Test rows", type=FILE_TYPES, key="data_upload_test")}
    return {part: upload for part, upload in files.items() if upload is not None}


def inspect_upload(upload, parts: dict, delimiter: str | None, names: list[str] | None,
                   label: str | None) -> datasets.Inspection:
    """Read and understand the upload (and its split files) once per file and reading options."""
    key = (upload.file_id, tuple((p, f.file_id) for p, f in parts.items()), delimiter,
           tuple(names) if names else None, label)
    cached = st.session_state.get("data_inspection")
    if cached is None or cached[0] != key:
        with st.spinner(f"Reading {common.plain(upload.name)}…"):
            inspection = datasets.inspect(upload.getvalue(), upload.name, delimiter=delimiter, names=names,
                                          label=label,
                                          parts={p: (f.getvalue(), f.name) for p, f in parts.items()})
        st.session_state["data_inspection"] = cached = (key, inspection)
    return cached[1]


MAX_SWITCH_BUTTONS = 12      # unsure guesses offered as one-click buttons; the rest in the role column


def roles_frame(schema: Schema) -> pd.DataFrame:
    return pd.DataFrame([{
        "column": c.name, "role": c.role, "unsure: or": c.alternative or "", "reason": c.reason, "dtype": c.dtype,
        "distinct": c.n_unique, "missing": c.n_missing, "examples": ", ".join(map(str, c.examples)),
    } for c in schema.columns])


def switched_schema(inspection: datasets.Inspection) -> tuple[Schema, str]:
    """The inferred schema with the unsure guesses the user switched to their alternative (one click
    each), and a key suffix that changes with them (so the roles table starts again from it)."""
    switched = st.session_state.setdefault(f"switched_{inspection.digest}", {})
    schema = inspection.schema
    unsure = [c for c in schema.columns if c.alternative and c.name not in switched]
    unsure = [c for k, c in enumerate(unsure) if swap_partner(schema, c) not in unsure[:k]]   # a swap: one button
    if unsure:
        st.caption("Unsure guesses (they rest on the values alone): one click sets the other role.")
        cols = st.columns(min(len(unsure), 4))
        for k, c in enumerate(unsure[:MAX_SWITCH_BUTTONS]):
            partner = swap_partner(schema, c)
            label = (f"swap {common.plain(c.name)} ({c.role}) and {common.plain(partner.name)} ({partner.role})"
                     if partner else f"{common.plain(c.name)} → {c.alternative}")
            if cols[k % len(cols)].button(label, key=f"switch_{inspection.digest}_{c.name}",
                                          help=common.plain(c.reason)):
                switched.update({d.name: d.alternative for d in (c, partner) if d is not None})
                st.rerun()
    if not switched:
        return schema, ""
    return schema.with_roles(switched), "-" + "-".join(sorted(f"{k}={v}" for k, v in switched.items()))


def swap_partner(schema: Schema, column: ColumnInfo) -> ColumnInfo | None:
    """The other half of a user and item pair guessed from the values (each offers the other's role), or None."""
    if {column.role, column.alternative} != {"user", "item"}:
        return None
    return next((c for c in schema.columns if c.role == column.alternative and c.alternative == column.role), None)


def edit_schema(inspection: datasets.Inspection) -> Schema:
    """The roles table (editable role column) and the task; returns the schema as edited."""
    st.subheader("Columns and roles")
    st.caption("Each role was guessed from the data; the reason says why. Change a role in the **role** "
               "column if the guess is wrong (use *ignore* to leave a column out).")
    schema, suffix = switched_schema(inspection)
    edited = st.data_editor(
        roles_frame(schema), hide_index=True, width="stretch", key=f"roles_{inspection.digest}{suffix}",
        disabled=["column", "unsure: or", "reason", "dtype", "distinct", "missing", "examples"],
        column_config={
            "role": st.column_config.SelectboxColumn("role", options=list(ROLES), required=True),
            "distinct": st.column_config.NumberColumn("distinct", format="%d"),
            "missing": st.column_config.NumberColumn("missing", format="%d"),
        },
    )
    changed = {c.name: role for c, role in zip(schema.columns, edited["role"]) if role != c.role}
    left, right = st.columns([1, 3])
    task = left.selectbox("Task", TASKS, index=TASKS.index(schema.task), key=f"task_{inspection.digest}")
    right.caption(f"Task guessed: **{schema.task}** — {schema.task_reason}. "
                  "*ctr*: a click/conversion label (AUC, logloss); *rating*: a numeric score (RMSE, MAE).")
    edited_schema = schema.with_roles(changed, task if task != schema.task else None) if changed or task != schema.task \
        else schema
    stamps = edited_schema.names("timestamp")
    if stamps and st.checkbox(f"Add the hour of day and the weekday of {common.plain(stamps[0])} as fields",
                              key=f"time_fields_{inspection.digest}",
                              help="two categorical fields every model sees (UTC); the timestamp itself only "
                                   "orders the rows and builds histories"):
        edited_schema = replace(edited_schema, time_fields=True)
    return edited_schema


def save_form(inspection: datasets.Inspection, schema: Schema) -> None:
    st.subheader("Save")
    name = st.text_input("Dataset name", value=derived_name(Path(inspection.filename).stem, "dataset"),
                         key=f"name_{inspection.digest}")
    if st.button("Save dataset", type="primary", key="data_save"):
        with common.user_errors():
            row = datasets.save(common.store(), inspection, schema, name=name.strip() or None, home=common.home())
            st.success(f"Saved dataset **{common.plain(row.name)}** ({row.n_rows:,} rows, {row.n_cols} columns). "
                       "Next: launch a study on it.")
            st.page_link(common.PAGES["new_study"], label="New study", icon=":material/rocket_launch:")


def inspect_server_file(text: str, delimiter: str | None, names: list[str] | None,
                        label: str | None) -> datasets.Inspection:
    """Read and understand a file already on the server (in a shared folder), once per file
    version and reading options; past the in-memory limit it is read in blocks."""
    with datasets.opened_server_file(text, datasets.server_roots(common.home())) as (path, stat):
        name = Path(text.strip()).name
        key = (text.strip(), stat.st_ino, stat.st_size, stat.st_mtime_ns, delimiter, tuple(names) if names else None,
               label)
        cached = st.session_state.get("data_inspection")
        if cached is None or cached[0] != key:
            with st.spinner(f"Reading {common.plain(name)} ({stat.st_size / 2**20:,.0f} MB)…"):
                inspection = datasets.inspect(path, name, delimiter=delimiter, names=names, label=label,
                                              spool=common.home() / "incoming")
            st.session_state["data_inspection"] = cached = (key, inspection)
    return cached[1]


def chosen_table(delimiter: str | None, names: list[str] | None, label: str | None,
                 ready: bool) -> datasets.Inspection | None:
    """The upload, or the file on the server named by path (for files past the browser's limit), read
    when ``ready``."""
    source = st.radio("Table", ["Upload a file", "A file on the server"], horizontal=True, key="data_source",
                      label_visibility="collapsed")
    if source == "A file on the server":
        roots = ", ".join(f"`{common.plain(r)}`" for r in datasets.server_roots(common.home()))
        text = st.text_input("Path of the file on the server", key="data_server_path",
                             help=f"a CSV/TSV/Parquet file in a shared folder ({roots}); files of any size are "
                                  "read in blocks, never whole")
        st.caption(f"Shared folders: {roots} (set {datasets.DATA_DIRS_ENV} to share others).")
        return inspect_server_file(text, delimiter, names, label) if text.strip() and ready else None
    upload = st.file_uploader("Upload an interaction table", type=FILE_TYPES, key="data_upload",
                              help="CSV/TSV/TXT (also MovieLens .data and '::'-separated .dat) with or without a "
                                   "header line, Parquet, or libFM/libSVM.")
    parts = given_split_uploads()
    if upload is None:
        st.caption("Or use the bundled demo dataset, already listed below, or a file on the server.")
        return None
    return inspect_upload(upload, parts, delimiter, names, label) if ready else None


def checked(inspection: datasets.Inspection, schema: Schema) -> list[str]:
    """``validate``'s warnings for the schema, computed once per schema (a large table is read
    column by column to check it)."""
    key = f"validated_{inspection.digest}"
    cached = st.session_state.get(key)
    if cached is None or cached[0] != schema.to_json():
        st.session_state[key] = cached = (schema.to_json(), validate(inspection.raw.frame, schema, inspection.filename))
    return cached[1]


def dependencies(inspection: datasets.Inspection, schema: Schema) -> list[str]:
    """The maps between the categorical columns (``field_dependencies`` on the table's rows, read as they are:
    a study finds them again on its training rows), computed once per schema, one sentence each."""
    key = f"dependencies_{inspection.digest}"
    names = schema.names("user", "item", "categorical")
    cached = st.session_state.get(key)
    if cached is None or cached[0] != names:
        frame = inspection.raw.frame
        table = np.stack([compact(frame[name]) for name in names], 1) if names else np.zeros((0, 0), np.int64)
        st.session_state[key] = cached = (names, describe(field_dependencies(table), names))
    return cached[1]


def dependencies_note(inspection: datasets.Inspection, schema: Schema) -> None:
    found = dependencies(inspection, schema)
    if found:
        st.caption("Columns that determine others (found on the rows; the diagnostics report a pair seen through "
                   "such a column under the pair of the column it determines): "
                   + "; ".join(common.plain(line) for line in found) + ".")


def upload_section() -> None:
    """Errors name what to change on this page; each is computed from the current options, so it goes
    once they change."""
    delimiter, names, label, ready = reading_options()
    try:
        inspection = chosen_table(delimiter, names, label, ready)
    except NoLabelError as error:
        st.error(f"{common.plain(error)}\n\nTo fix it here: pick the label column below.")
        label_picker(error.columns)
        return
    except CrossBoardError as error:
        st.error(f"{common.plain(error)}\n\n{READING_FIX}")
        return
    if inspection is None:
        return
    raw = inspection.raw
    frame = raw.frame
    st.markdown(f"**{len(frame):,} rows × {frame.shape[1]} columns** · format `{raw.file_format}`"
                + (f" · encoding `{raw.encoding}`" if raw.encoding else ""))
    st.dataframe(frame.head(PREVIEW_ROWS), hide_index=True, width="stretch")
    for note in raw.notes:
        st.info(common.plain(note))
    if raw.first_line is not None and not any("," in cell for cell in raw.first_line):
        st.button("Read the first line as the header", key="data_first_line_header", on_click=first_line_as_header,
                  args=(raw.first_line,))
    try:
        schema = edit_schema(inspection)
        for warning in checked(inspection, schema):
            st.warning(common.plain(warning))
        dependencies_note(inspection, schema)
    except CrossBoardError as error:
        st.error(f"{common.plain(error)}\n\n{ROLES_FIX}")
        return
    save_form(inspection, schema)


def stored_datasets() -> None:
    st.subheader("Stored datasets")
    rows = common.store().datasets()
    if not rows:
        st.info("No dataset stored yet.")
        return
    table = []
    for row in rows:
        schema = datasets.schema_of(row)
        table.append({"name": row.name, "rows": row.n_rows, "columns": row.n_cols, "format": row.file_format,
                      "task": schema.task, "label": schema.label or "", "file": row.filename,
                      "created": row.created_at, "id": row.id[:12]})
    st.dataframe(pd.DataFrame(table), hide_index=True, width="stretch")


def main() -> None:
    st.title("Data")
    upload_section()
    st.divider()
    stored_datasets()


if __name__ == "__main__":
    main()
