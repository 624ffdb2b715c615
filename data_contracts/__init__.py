"""Data contracts (ODCS v3): the single description of every source table and open dataset."""

from data_contracts.registry import (
    Column,
    ContractError,
    Dataset,
    SourceTable,
    dataset,
    datasets,
    source_table,
    source_tables,
)

__all__ = [
    "Column",
    "ContractError",
    "Dataset",
    "SourceTable",
    "dataset",
    "datasets",
    "source_table",
    "source_tables",
]
