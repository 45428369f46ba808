"""The bot's signature on its issue property: evidence a person with edit rights cannot forge.

Anyone who may edit a ticket may write the bot's issue property (Jira has no permission for
one property). What a person cannot produce is an HMAC made with a key only the bot's
installations hold, so every property the bot writes carries ``"sig": "v1:<hex>"``:
HMAC-SHA256 over the SHA-256 of the rest of the value in canonical JSON
(:func:`worker.model.state.property_digest`). It works the same on Cloud and Data Center and needs
no request: the reader checks it from the property search already returns.

The key: ``HANDOFF_GUARD_SIGNING_KEY`` when an operator sets one (a comma-separated list of
secrets: the first signs, every one verifies, so a key can be rotated), else the Jira
credential the bot logs in with (its API token, personal access token or password). Every
deployment that uses the same bot credential therefore recognises the others' writes, and a
store lost or made anew keeps the key. Rotating the credential changes that default key: list
the old credential after the new one (``HANDOFF_GUARD_SIGNING_KEY=<new>,<old>``), or the
tickets written before are skipped as unverifiable (loudly: a warning and a metric).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from worker.model.state import BotState, property_digest

#: the prefix of the signature's current form
VERSION = "v1:"
#: mixed into a key derived from a credential, so it serves no other purpose
_DERIVATION = b"handoff-guard/issue-property-signature/v1"


def key_from_secret(secret: str) -> bytes:
    """A signing key from a secret (an entry of ``HANDOFF_GUARD_SIGNING_KEY``, or the bot's
    Jira credential when none is set): the secret itself never signs anything."""
    return hmac.new(secret.encode(), _DERIVATION, hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class Signer:
    """Signs with the first key, verifies with any of them."""

    keys: tuple[bytes, ...]

    @classmethod
    def of(cls, keys: Sequence[bytes]) -> Signer:
        """A signer for ``keys`` (at least one)."""
        if not keys:
            raise ValueError("a signer needs at least one key")
        return cls(tuple(keys))

    def sign(self, value: Mapping[str, Any]) -> str:
        """The signature of a property value (its ``sig``, if any, is not signed)."""
        return VERSION + _mac(self.keys[0], property_digest(value))

    def verifies(self, state: BotState) -> bool:
        """Whether ``state`` (as read: it carries the digest of the value read) bears a
        signature made with one of the keys."""
        sig, digest = state.sig, state.digest
        if sig is None or digest is None or not sig.startswith(VERSION):
            return False
        given = sig[len(VERSION):]
        return any(hmac.compare_digest(_mac(k, digest), given) for k in self.keys)


def _mac(key: bytes, digest: bytes) -> str:
    return hmac.new(key, digest, hashlib.sha256).hexdigest()
