"""Development-only tools (not part of the product): the test-only Solr stand-in CKAN needs here."""
