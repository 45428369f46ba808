"""Who a policy names as a target, checked before it acts: symbolic values and literal users.

A ``reassign`` step's ``to`` is one of the symbolic values (:data:`SYMBOLIC_TARGETS`) or a
literal user: a Jira Cloud account id (``712020:2c1e…`` or 24 hex digits) or a Data Center
username. A value one typo away from a symbolic value (``sales-owner``) is refused with a
did-you-mean, never taken as a username; a value that looks like neither (a display name
with spaces, an email) is refused too. Whether a literal user exists, is active and can be
assigned is the site's to say (``validate --site``: :mod:`worker.policy.site_check`).

Pure functions: each returns the problem in words, or None. The registry checks of
:mod:`worker.policy.checks` run them on the raw file, so a typo elsewhere hides none.
"""

from __future__ import annotations

import difflib
import re

#: what ``reassign: {to: ...}`` may name besides a user
SYMBOLIC_TARGETS: tuple[str, ...] = ("sales_owner", "reporter")
#: a Jira Cloud account id: ``557058:…``/``712020:…`` (a number, a colon, a uuid-like id) or
#: the older 24 hex digits
CLOUD_ACCOUNT_ID = re.compile(r"^(?:\d+:[0-9A-Za-z-]{1,64}|[0-9a-f]{24})$")
#: a Jira Data Center username: no spaces; letters, digits and . _ - @ +
DC_USERNAME = re.compile(r"^[\w.@+-]{1,255}$")


def _folded(value: str) -> str:
    return re.sub(r"[\s_-]+", "_", value.strip().casefold())


def symbolic_typo(value: str, symbols: tuple[str, ...] = SYMBOLIC_TARGETS) -> str | None:
    """The symbolic value ``value`` almost is (``sales-owner``, ``Sales Owner``,
    ``sales_ownr`` -> ``sales_owner``), or None."""
    if value in symbols:
        return None
    folded = _folded(value)
    for symbol in symbols:
        if folded == symbol:
            return symbol
    close = difflib.get_close_matches(folded, list(symbols), n=1, cutoff=0.8)
    return close[0] if close else None


def user_shape_problem(value: str) -> str | None:
    """Why ``value`` cannot be a literal user id on either flavor, or None."""
    if CLOUD_ACCOUNT_ID.match(value) or DC_USERNAME.match(value):
        return None
    return (f"'{value}' is not a user id: name a Jira Cloud account id (like "
            "712020:2c1e8f0a-…) or a Data Center username, not a display name or an email")


def target_problem(value: str, *, symbolic: bool = True) -> str | None:
    """Why a ``to`` (``symbolic``) or ``fallback`` value names nobody, or None."""
    if symbolic and value in SYMBOLIC_TARGETS:
        return None
    typo = symbolic_typo(value)
    if typo is not None:
        if not symbolic:
            return (f"'{value}' is not a user id (it reads like '{typo}', which a fallback "
                    "cannot be: give the fallback person's account id or username)")
        return f"unknown target '{value}'; did you mean '{typo}'?"
    return user_shape_problem(value)


def flavor_problem(value: str, flavor: str) -> str | None:
    """Why a literal user ``value`` cannot be an id on ``flavor`` (``cloud`` needs an account
    id, ``datacenter`` a username), or None."""
    if flavor == "cloud" and not CLOUD_ACCOUNT_ID.match(value):
        return (f"'{value}' is not a Jira Cloud account id (like 712020:2c1e8f0a-…): Cloud "
                "identifies users by account id only")
    if flavor != "cloud" and not DC_USERNAME.match(value):
        return f"'{value}' is not a Data Center username"
    return None
