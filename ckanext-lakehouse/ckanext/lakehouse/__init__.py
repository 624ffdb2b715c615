"""ckanext-lakehouse: the national open-data portal's CKAN additions (see the package's README.md)."""
