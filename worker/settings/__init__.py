"""The worker's settings: the environment read once at start into one frozen value.

:mod:`~worker.settings.env` (the :class:`~worker.settings.env.Settings` value and what follows
from it), :mod:`~worker.settings.parse` (each variable's value checked),
:mod:`~worker.settings.secret` (credentials that never show themselves),
:mod:`~worker.settings.errors` (one line naming the variable, never its value) and
:mod:`~worker.settings.catalogue` (every variable, as ``python -m worker settings`` lists them).
"""
