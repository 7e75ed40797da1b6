"""Reading a table file (CSV, Parquet, JSON records, JSONL) into a DataFrame, with errors that name the file.

Shared by every package that reads real tables (tabular generators, the evaluation, the split tool).
pandas is imported on first use: it is core's `pandas` extra, which those packages depend on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from biosynth.core._errors import InputDataError
from biosynth.core._inputs import PACKAGE_PREFIX, resolve_package_path

TABLE_SUFFIXES = (".csv", ".parquet", ".pq", ".json", ".jsonl")


def read_table(source: str | Path, what: str = "table", *, allow_empty: bool = False) -> Any:
    """A pandas DataFrame from `source`: a .csv, .parquet, .json (records) or .jsonl file, or a
    `package:<name>/<path>` file that ships in an installed package. `what` names the file's role in errors
    (e.g. "--real", "parameter `data`")."""
    import pandas as pd

    path = resolve_package_path(str(source)) if str(source).startswith(PACKAGE_PREFIX) else Path(source)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise InputDataError(f"{what} {str(source)!r}: expected a table file ({', '.join(TABLE_SUFFIXES)}), "
                             f"got {suffix or 'no suffix'!r}")
    if not path.is_file():
        raise InputDataError(f"{what} {str(source)!r} does not exist or is not a file")
    try:
        if suffix == ".csv":
            frame = pd.read_csv(path)
        elif suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        elif suffix == ".jsonl":
            frame = pd.read_json(path, lines=True)
        else:
            frame = pd.read_json(path, orient="records")
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise InputDataError(f"{what} {str(source)!r} could not be read as {suffix.lstrip('.')}: {err}") from None
    if frame.empty and not allow_empty:
        raise InputDataError(f"{what} {str(source)!r} has no rows")
    return frame
