"""Publishing gold datasets: the disclosure gate, then CKAN."""
