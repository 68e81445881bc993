"""Answers with citations: the context built from search hits, markers parsed back, the ask pipeline."""
