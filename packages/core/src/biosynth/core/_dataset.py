"""SyntheticDataset: read a finished dataset folder (manifest.json, records.parquet, media/)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import ValidationError

from biosynth.core._errors import DatasetError
from biosynth.core._hashing import sha256_file
from biosynth.core._journal import read_manifest_json
from biosynth.core._manifest import Manifest
from biosynth.core._records import Record
from biosynth.core._store import read_table, table_to_records
from biosynth.core._validation import describe_validation_error

if TYPE_CHECKING:
    import pandas as pd

MANIFEST = "manifest.json"


class SyntheticDataset:
    """A dataset folder written by the runner.

    >>> ds = SyntheticDataset("out/")          # doctest: +SKIP
    >>> ds.manifest.produced, ds.records("notes")[0].text
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        manifest_path = self.root / MANIFEST
        if not manifest_path.is_file():
            raise DatasetError(f"{str(self.root)!r} is not a biosynth dataset: {MANIFEST} is missing")
        try:
            self.manifest = Manifest.model_validate(read_manifest_json(manifest_path))
        except ValidationError as err:
            raise DatasetError(describe_validation_error(err, what=f"manifest {str(manifest_path)!r}")) from None

    @property
    def complete(self) -> bool:
        return self.manifest.status == "complete"

    def table(self, step: str | None = None) -> pa.Table:
        if not self.complete:
            raise DatasetError(f"dataset {str(self.root)!r} is unfinished; resume it with `biosynth run ... --resume`")
        table = self.read_records()
        if step is not None:
            if step not in self.manifest.steps:
                raise DatasetError(f"no step {step!r} in this dataset (steps: {list(self.manifest.steps)})")
            table = table.filter(pc.equal(table.column("step"), step))
        return table

    def read_records(self, columns: list[str] | None = None) -> pa.Table:
        """The records file as an Arrow table; a damaged file is a DatasetError that says what `verify` finds."""
        path = self.root / self.manifest.records_file
        if not path.is_file():
            raise DatasetError(f"{str(path)!r} is missing")
        try:
            table = read_table(path)
        except (pa.ArrowException, OSError) as err:
            problems = "; ".join(self.verify()) or "its sha256 matches the manifest"
            raise DatasetError(f"{str(path)!r} cannot be read as Parquet ({problems}): {err}") from None
        return table.select(columns) if columns is not None else table

    def records(self, step: str | None = None) -> list[Record]:
        return table_to_records(self.table(step))

    def to_pandas(self, step: str | None = None) -> pd.DataFrame:
        try:
            import pandas  # noqa: F401
        except ImportError:
            raise ImportError("SyntheticDataset.to_pandas needs pandas: pip install 'biosynth-core[pandas]'") from None
        return self.table(step).to_pandas()

    def verify(self) -> list[str]:
        """Problems found: records or media files missing or not matching their recorded sha256."""
        problems: list[str] = []
        records_path = self.root / self.manifest.records_file
        if not records_path.is_file():
            problems.append(f"{self.manifest.records_file} is missing")
        elif self.manifest.records_sha256 and sha256_file(records_path) != self.manifest.records_sha256:
            problems.append(f"{self.manifest.records_file} does not match its sha256")
        for relative, digest in self.manifest.media.items():
            path = self.root / relative
            if not path.is_file():
                problems.append(f"{relative} is missing")
            elif sha256_file(path) != digest:
                problems.append(f"{relative} does not match its sha256")
        return problems
