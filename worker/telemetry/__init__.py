"""What the worker tells operators: structured logs, metrics, event counts."""
