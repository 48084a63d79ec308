"""Ingestion: sources → parse → chunk → clean → embed → write; job queues and their workers."""
