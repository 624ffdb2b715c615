"""Data contracts (ODCS v3): the single description of every source table and open dataset.

Stages import from here: the model (model.py), found and parsed from the contract files
(discovery.py, odcs.py). The quality rules compiled to SQL (quality.py, needs sqlglot: data side only)
are imported from data_contracts.quality directly."""

from data_contracts.discovery import (
    CONTRACTS_DIR,
    EXTRA_DIRS_ENV,
    PSEUDONYM_PATTERN,
    contract_dirs,
    contracts_fingerprint,
    dataset,
    dataset_files,
    datasets,
    direct_identifier_columns,
    identifier_patterns,
    source_files,
    source_table,
    source_tables,
    validate_all,
)
from data_contracts.model import (
    DIRECT_IDENTIFIER,
    PHYSICAL_TYPES,
    Column,
    ContractError,
    Dataset,
    IngestionPolicy,
    Population,
    QualityRule,
    SourceTable,
)

__all__ = [
    "CONTRACTS_DIR",
    "DIRECT_IDENTIFIER",
    "EXTRA_DIRS_ENV",
    "PHYSICAL_TYPES",
    "PSEUDONYM_PATTERN",
    "Column",
    "ContractError",
    "Dataset",
    "IngestionPolicy",
    "Population",
    "QualityRule",
    "SourceTable",
    "contract_dirs",
    "contracts_fingerprint",
    "dataset",
    "dataset_files",
    "datasets",
    "direct_identifier_columns",
    "identifier_patterns",
    "source_files",
    "source_table",
    "source_tables",
    "validate_all",
]
