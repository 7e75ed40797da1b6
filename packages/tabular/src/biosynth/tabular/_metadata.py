"""Table metadata: the one schema lives in core (`biosynth.core._table_schema`); tabular re-exports it."""

from biosynth.core._table_schema import (
    METADATA_VERSION,
    SUPPORTED_VERSIONS,
    ColumnSpec,
    ColumnType,
    TableMetadata,
    detect_column,
    detect_metadata,
    read_table_metadata,
)

__all__ = ["METADATA_VERSION", "SUPPORTED_VERSIONS", "ColumnSpec", "ColumnType", "TableMetadata", "detect_column",
           "detect_metadata", "read_table_metadata"]
