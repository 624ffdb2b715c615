"""CKAN additions for the national open-data portal (see infra/ckan_extension/pyproject.toml)."""
