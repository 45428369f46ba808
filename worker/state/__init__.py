"""What the worker keeps between cycles: the store and its migrations, the lease, the
installation, history."""
