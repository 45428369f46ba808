"""The impact of a policy edit: the current file and a new one planned on the same read.

``python -m worker plan --against NEW.yaml`` prints it; the hot reload logs it
(``config.impact``) when a new file takes effect.
"""

from __future__ import annotations

from worker.impact.diff import (
    CHANGES,
    Acting,
    Impact,
    ImpactError,
    Promise,
    TicketChange,
    combined_spec,
    compare,
)
from worker.impact.read import impact_on_site, log_reload_impact

__all__ = [
    "CHANGES",
    "Acting",
    "Impact",
    "ImpactError",
    "Promise",
    "TicketChange",
    "combined_spec",
    "compare",
    "impact_on_site",
    "log_reload_impact",
]
