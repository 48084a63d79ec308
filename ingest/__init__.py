"""Ingestion: sources → parse → chunk → clean → embed → write."""
