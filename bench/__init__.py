"""The benchmark: Handoff Guard's cost per cycle against the request-economy minimum and against
the script a user would write with the same client (``make bench``, ``python -m bench``)."""
