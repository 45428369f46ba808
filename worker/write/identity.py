"""Who a writer writes as: the installation's name, its store, the lease grant it holds and the
key it signs with (:mod:`worker.state.installation`), from the settings an operator gave."""

from __future__ import annotations

from datetime import datetime, timedelta

from worker.settings.env import Settings
from worker.settings.errors import SettingsError
from worker.state.installation import Actors, default_name
from worker.state.lease import Fence
from worker.state.signature import Signer, key_from_secret
from worker.state.store import Store

#: the admin's warning when tickets carry a state the bot cannot trust
UNVERIFIED_WORDS = (
    "the bot's issue property on these tickets was not written by this installation or any "
    "that shares its signing key (someone with edit rights wrote it, or another installation "
    "with its own key did): each one is skipped, nothing else stops. Delete the property on "
    "a ticket to let the bot start its ladder there again, or give both installations one "
    "HANDOFF_GUARD_SIGNING_KEY")


def load_actors(settings: Settings, store: Store, *, bot_id: str, now: datetime,
                fence: Fence | None, window: timedelta) -> Actors:
    """Who this cycle (or revert) writes as, and what the store saw of other actors before.

    ``bot_id`` is the bot account (the default name is derived from it and the site);
    ``now`` the site's clock; ``fence`` the lease grant the writes are made under;
    ``window`` how long another actor's last write seen keeps stopping this one (the
    journal's window)."""
    secrets = settings.signing_secrets()
    if not secrets:
        raise SettingsError("no Jira credential or HANDOFF_GUARD_SIGNING_KEY to sign with")
    return Actors.load(
        store,
        name=settings.installation or default_name(settings.jira_url or "", bot_id),
        signer=Signer.of([key_from_secret(k) for k in secrets]),
        trusted=settings.trusted_installations, window=window, now=now,
        holder=None if fence is None else fence.lease.holder,
        fencing=None if fence is None else fence.fencing,
    )
