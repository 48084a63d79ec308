"""Retrieval: index backends, embeddings, hybrid search, access control, context, answers."""
