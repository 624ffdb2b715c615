"""RDF profiles for ckanext-dcat, one per standard."""
