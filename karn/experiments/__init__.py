"""Experiments with a held-back control group: keep calls, follow-ups, campaigns."""
