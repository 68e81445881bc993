"""Reliability suite (slow): make test-all."""
