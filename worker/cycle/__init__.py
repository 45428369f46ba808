"""One cycle end to end: which config (source), read, plan, write (run), what it did (report,
record), and the runner that holds what outlives a cycle."""
