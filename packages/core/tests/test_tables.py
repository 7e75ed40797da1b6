"""`read_table`: one reader for real tables in every package, read back against pandas/pyarrow directly."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from biosynth.core import InputDataError, read_table

FRAME = pd.DataFrame({"age": [40, 51, 63], "sex": ["F", "M", "F"], "bmi": [22.5, None, 31.0]})


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl", ".json"])
def test_each_format_reads_back_the_same_table(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"t{suffix}"
    if suffix == ".csv":
        FRAME.to_csv(path, index=False)
    elif suffix == ".parquet":
        pq.write_table(pa.Table.from_pandas(FRAME, preserve_index=False), path)
    elif suffix == ".jsonl":
        FRAME.to_json(path, orient="records", lines=True)
    else:
        FRAME.to_json(path, orient="records")
    pd.testing.assert_frame_equal(read_table(path), FRAME, check_dtype=False)


@pytest.mark.parametrize(("content", "name", "message"), [
    (None, "missing.csv", "does not exist"),
    (b"a,b\n1,2\n", "table.xlsx", "expected a table file"),
    (b"not parquet", "bad.parquet", "could not be read as parquet"),
    (b"a,b\n", "empty.csv", "has no rows"),
])
def test_bad_files_are_named(tmp_path: Path, content: bytes | None, name: str, message: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputDataError, match=message) as err:
        read_table(path, "parameter `data`")
    assert name in str(err.value) and "parameter `data`" in str(err.value)
