"""Spark ingestion from sector databases into bronze Delta tables."""
