"""Installations with separate stores: each write names its installation; another one's recent
writes stop this one's, loudly (log, exit 6, /readyz, metrics), until it is confirmed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from tests.service.conftest import Cli
from tests.service.replica_support import WorkerProcess, worker_env
from worker.exits import EXIT_ANOTHER_ACTOR, EXIT_OK
from worker.model.state import BotState, PolicyState, StepRecord, WrittenBy
from worker.sandbox import Sandbox
from worker.state.installation import Actors, Grant, Identity, judge
from worker.state.signature import Signer, key_from_secret
from worker.state.store import Store

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(hours=24)
KEY = key_from_secret("the bot's token")
SIGNER = Signer.of([KEY])
#: this process: installation "prod", store "s1", born at T0 under grant (h1, 3)
ME = Identity("prod", "s1", T0, (Grant("h0", 2, T0 - 3 * DAY), Grant("h1", 3, T0)),
              holder="h1", fencing=3)


def _signed(by: WrittenBy | None, *, signer: Signer = SIGNER, steps: int = 1) -> BotState:
    """A state as the site returns it after ``by`` wrote it with ``signer``'s key."""
    state = BotState(policies={"p": PolicyState(steps=tuple(
        StepRecord(i, T0, ("comment",)) for i in range(steps)))}, by=by)
    value = state.to_json()
    value["sig"] = signer.sign(value)
    return BotState.from_json(value)


def _by(installation: str = "prod", at: datetime = T0 + timedelta(hours=1), *,
        store: str | None = "s1", holder: str | None = "h1", fencing: int | None = 3
        ) -> WrittenBy:
    return WrittenBy(installation, at, store=store, holder=holder, fencing=fencing)


LATER = T0 + timedelta(hours=1)
EARLIER = T0 - timedelta(hours=1)
FORGED = {"v": 1, "by": {"installation": "decoy", "at": "2099-01-01T00:00:00+00:00"},
          "policies": {}}
JUDGED = [
    # (what the ticket's property holds, trusted names, verdict)
    ("nothing written", BotState(), frozenset(), "own"),
    ("this store, this grant", _signed(_by()), frozenset(), "own"),
    ("this store, an older grant of its own", _signed(_by(holder="h0", fencing=2)),
     frozenset(), "own"),
    ("a PM's decoy dated 2099 (unsigned)", BotState.from_json(FORGED), frozenset(),
     "unverified"),
    ("a signed stamp dated 2099", _signed(_by(at=datetime(2099, 1, 1, tzinfo=UTC))),
     frozenset(), "unverified"),
    ("a key this installation does not hold",
     _signed(_by("staging"), signer=Signer.of([key_from_secret("another")])), frozenset(),
     "unverified"),
    ("steps added by hand after the bot signed", BotState.from_json(
        {**_signed(_by()).to_json(), "policies": _signed(_by(), steps=3).to_json()["policies"]}),
     frozenset(), "unverified"),
    ("an earlier store of this installation, before this one began",
     _signed(_by(store="s0", holder="x", fencing=9, at=EARLIER)), frozenset(), "history"),
    ("another store of this installation, since this one began",
     _signed(_by(store="s0", holder="x", fencing=9)), frozenset(), "another"),
    ("a copy of this store, before this store's grant (a restored backup)",
     _signed(_by(holder="hx", fencing=3, at=EARLIER)), frozenset(), "history"),
    ("a copy of this store, since this store's grant",
     _signed(_by(holder="hx", fencing=3)), frozenset(), "another"),
    ("a copy of this store, past this store's numbers", _signed(_by(holder="hx", fencing=7)),
     frozenset(), "another"),
    ("another installation, recently", _signed(_by("staging", store="s9", at=EARLIER)),
     frozenset(), "another"),
    ("another installation, older than the journal window",
     _signed(_by("staging", store="s9", at=T0 - 2 * DAY)), frozenset(), "history"),
    ("a retired installation an operator trusts",
     _signed(_by("staging", store="s9", at=EARLIER)), frozenset({"staging"}), "history"),
    ("a trusted installation that still writes", _signed(_by("staging", store="s9")),
     frozenset({"staging"}), "another"),
]


@pytest.mark.parametrize(("case", "state", "trusted", "kind"), JUDGED,
                         ids=[c[0] for c in JUDGED])
def test_who_wrote_the_state(case: str, state: BotState, trusted: frozenset[str],
                             kind: str) -> None:
    """Only what holds this installation's signature can stop the bot, and then by its
    stamp: this store's past goes on, a live other writer stops it."""
    verdict = judge(state, "ACME-1", me=ME, signer=SIGNER, trusted=trusted, window=DAY,
                    now=T0 + timedelta(hours=2), journaled=lambda _i, _s: False)
    assert verdict.kind == kind, verdict.detail


def test_an_unsigned_state_counts_when_this_store_journaled_it() -> None:
    """A property written before signatures is this store's when its journal holds it."""
    old = BotState.from_json({"v": 1, "by": {"installation": "s1", "at": T0.isoformat()},
                              "policies": _signed(_by()).to_json()["policies"]})
    verdict = judge(old, "ACME-1", me=ME, signer=SIGNER, trusted=frozenset(), window=DAY,
                    now=T0, journaled=lambda _i, s: s.policies == old.policies)
    assert verdict.kind == "own"


def test_the_property_names_its_writer_and_is_signed() -> None:
    """``by`` and ``sig`` round-trip through the property's JSON; the signature covers
    everything else in the value, in any key order; an old property has neither."""
    by = _by()
    state = _signed(by)
    value = state.to_json()
    assert value["by"] == {"installation": "prod", "at": "2026-11-02T10:00:00+00:00",
                           "store": "s1", "holder": "h1", "fencing": 3}
    assert value["sig"].startswith("v1:")
    assert BotState.from_json(value).by == by
    assert SIGNER.verifies(BotState.from_json(dict(reversed(list(value.items())))))
    assert not SIGNER.verifies(BotState.from_json({**value, "extra": 1}))
    assert BotState.from_json({"v": 1, "policies": {}}).by is None
    with pytest.raises(ValueError, match="'by'"):
        BotState.from_json({"v": 1, "policies": {}, "by": "abc123"})


def test_sightings_are_kept_across_cycles(store_target: str) -> None:
    """What was seen survives in the store (an incremental cycle may not read it again);
    the store's id is made once and shared by every process on the store; a sighting dated
    in the future is never kept (a clock cannot stop the bot forever)."""
    store = Store.open(store_target)
    again = Store.open(store_target)
    try:
        assert store.installation_id == again.installation_id
        actors = Actors.load(store, name="prod", signer=SIGNER, trusted=frozenset(),
                             window=DAY, now=T0)
        verdict = actors.judge("ACME-1", _signed(_by("staging", store="s9", at=T0)), T0)
        assert verdict.kind == "another"
        assert actors.halted.is_set()
        actors.save(store, T0)
        later = Actors.load(again, name="prod", signer=SIGNER, trusted=frozenset(),
                            window=DAY, now=T0 + timedelta(hours=1))
        assert set(later.active(T0 + timedelta(hours=1))) == {"staging"}
        assert "stop one of them" in (later.reason or "")
        assert "TRUSTED_INSTALLATIONS=" not in (later.reason or "")
        assert Actors.load(again, name="prod", signer=SIGNER, trusted=frozenset(),
                           window=DAY, now=T0 + 2 * DAY).active(T0 + 2 * DAY) == {}
    finally:
        store.close()
        again.close()


def _puts(sandbox: Sandbox) -> list[str]:
    return [r["path"] for r in sandbox.requests() if r["method"] == "PUT"]


def test_another_installation_stops_writes_and_trust_is_for_a_retired_one(
    cli: Cli, demo_sandbox: Sandbox, tmp_path: Path
) -> None:
    """Installation prod acts; an hour later staging (its own name and store) finds prod's
    writes: it writes nothing, exits 6 naming prod and saying to stop one of them, never to
    trust it (``revert`` too), and its service is not ready (``another_actor``, gauge 1).
    With prod trusted as retired, staging goes on, and no comment is posted twice (a trusted
    installation that still writes stops the other all the same: see
    ``tests/exactly_once/test_another_actor.py``)."""
    first, second = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    prod = {"HANDOFF_GUARD_STATE": first, "HANDOFF_GUARD_INSTALLATION": "prod"}
    staging = {"HANDOFF_GUARD_STATE": second, "HANDOFF_GUARD_INSTALLATION": "staging"}
    code, out, err = cli("run", "--once", **prod, HANDOFF_GUARD_TRUSTED_INSTALLATIONS="")
    assert code == EXIT_OK, err
    assert json.loads(out.strip().splitlines()[-1])["actions_applied"] > 0

    demo_sandbox.advance("1h")
    demo_sandbox.clear_requests()
    code, out, err = cli("run", "--once", **staging)
    assert code == EXIT_ANOTHER_ACTOR, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert "another installation (prod)" in summary["another_actor"]
    assert "this installation (staging" in summary["another_actor"]
    assert "stop one of them" in summary["another_actor"]
    assert "TRUSTED_INSTALLATIONS=" not in summary["another_actor"]
    assert _puts(demo_sandbox) == []

    env = worker_env(demo_sandbox, tmp_path, second, HANDOFF_GUARD_HTTP_PORT="0",
                     HANDOFF_GUARD_INSTALLATION="staging")
    service = WorkerProcess(["run"], env, name="b")
    try:
        url = service.wait_for("health.listening")["url"]
        service.wait_for("cycle.finished")
        assert service.count("another_actor") >= 1
        ready = requests.get(f"{url}/readyz", timeout=5)
        assert ready.status_code == 503
        assert ready.json()["reason"] == "another_actor"
        metrics = requests.get(f"{url}/metrics", timeout=5).text
        assert "handoff_guard_another_actor 1.0" in metrics
        assert service.stop() == EXIT_OK
    finally:
        service.close()
    assert _puts(demo_sandbox) == []

    code, out, err = cli("revert", "ACME-1", "--reason", "Lee Okafor", **staging)
    assert code == EXIT_ANOTHER_ACTOR
    assert "stop one of them" in err
    assert _puts(demo_sandbox) == []

    # prod retired (an operator says so): its writes, all made before staging's store
    # began, are history
    code, out, err = cli("run", "--once", **staging,
                         HANDOFF_GUARD_TRUSTED_INSTALLATIONS="someone,prod")
    assert code == EXIT_OK, err
    assert json.loads(out.strip().splitlines()[-1])["another_actor"] is None

    demo_sandbox.advance("3d")  # the next step is due: staging writes it
    demo_sandbox.clear_requests()
    code, out, err = cli("run", "--once", **staging)
    assert code == EXIT_OK, err
    assert _puts(demo_sandbox)
    bot = demo_sandbox.site()["site"]["bot"]["name"]
    for issue in demo_sandbox.site()["issues"]:
        bodies = [c["body"] for c in issue.get("comments") or () if c.get("author") == bot]
        assert len(bodies) == len(set(bodies)), issue["key"]


def test_the_container_example_restarted_three_times_never_stalls(
    demo_sandbox: Sandbox, config_dir: Path, tmp_path: Path
) -> None:
    """The README's ``docker run --rm`` without a volume, followed literally three times an
    hour apart: each start is a service on a new SQLite store. Today the second and third
    answer 503 ``another_actor`` and write nothing for a day; now each is ready after its
    first cycle (an earlier store of this installation is history: one warning that the store
    is new), and no comment is posted twice."""
    for restart in range(3):
        if restart:
            demo_sandbox.advance("1h")
        env = worker_env(demo_sandbox, tmp_path, str(tmp_path / f"container-{restart}.db"),
                         HANDOFF_GUARD_HTTP_PORT="0")
        service = WorkerProcess(["run"], env, name=f"container-{restart}")
        try:
            url = service.wait_for("health.listening")["url"]
            service.wait_for("cycle.finished")
            assert service.count("another_actor") == 0
            ready = requests.get(f"{url}/readyz", timeout=5)
            assert ready.status_code == 200, ready.text
            if restart:
                assert service.count("installation.store_new") == 1
            assert service.stop() == EXIT_OK
        finally:
            service.close()
    bot = demo_sandbox.site()["site"]["bot"]["name"]
    for issue in demo_sandbox.site()["issues"]:
        bodies = [c["body"] for c in issue.get("comments") or () if c.get("author") == bot]
        assert len(bodies) == len(set(bodies)), issue["key"]
