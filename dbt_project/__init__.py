"""The dbt project as a stage: runner.py runs dbt in the data virtualenv with the lake paths, the
pseudonym key and vars taken from the contracts. Models live in models/, the Delta plugin in plugins/."""
