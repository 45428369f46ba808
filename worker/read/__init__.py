"""What to read this cycle: incremental reads, due rechecks, deal facts, the site readers."""
