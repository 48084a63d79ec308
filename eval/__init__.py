"""Evaluation: datasets, systems under test, metrics, reports, the nightly gate."""
