"""The long-running shell: scheduler, probes, hot reload."""
