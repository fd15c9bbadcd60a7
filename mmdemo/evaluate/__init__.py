"""Evaluation: zero-shot accuracy and composed retrieval on data training never saw."""
