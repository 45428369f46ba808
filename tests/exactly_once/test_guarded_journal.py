"""GuardedJournal's rules with a hand-written journal that fails on cue (no sleeping)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import pytest

from worker.model.outcome import RecordedWrite
from worker.model.state import BotState
from worker.write.journal import GuardedJournal, JournalUnavailableError

AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


class FlakyJournal:
    """Refuses the first ``failures`` calls, then records."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.rows: list[RecordedWrite] = []

    def record_write(self, write: RecordedWrite) -> None:
        self.record_writes([write])

    def record_writes(self, writes: Sequence[RecordedWrite]) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise OSError("database is locked")
        self.rows.extend(writes)

    def recent_writes(self, *, since: datetime) -> Mapping[str, RecordedWrite]:
        return {w.issue: w for w in self.rows}


def _write(status: str, issue: str = "ACME-1") -> RecordedWrite:
    return RecordedWrite(issue, "1", AT, BotState(), status)  # type: ignore[arg-type]


def _guard(failures: int, *, retries: int,
           batch_rows: int | None = None) -> tuple[FlakyJournal, GuardedJournal]:
    inner = FlakyJournal(failures)
    return inner, GuardedJournal(inner, retry_for_s=retries * 1.0, pause_s=1.0,
                                 batch_rows=batch_rows, sleep=lambda _s: None)


def test_a_brief_stumble_is_retried() -> None:
    """Two refusals inside the retry window: the row is recorded, no failure is kept."""
    inner, guard = _guard(2, retries=5)
    guard.record_write(_write("unknown"))
    assert (len(inner.rows), guard.failure) == (1, None)


def test_before_sending_a_refused_journal_stops_the_write() -> None:
    """The "unknown" row cannot be recorded: the executor must not send."""
    _inner, guard = _guard(100, retries=0)
    with pytest.raises(JournalUnavailableError):
        guard.record_write(_write("unknown"))
    assert guard.failure is not None


def test_after_sending_the_applied_row_waits_and_is_flushed() -> None:
    """An "applied" row the store refused is kept and written once the store is back."""
    inner, guard = _guard(1, retries=0, batch_rows=1)  # committed on its own at once
    guard.record_write(_write("applied"))
    assert inner.rows == []
    assert guard.flush() == 0
    assert [w.status for w in inner.rows] == ["applied"]
    assert guard.failure is not None  # the cycle still reports the stumble


class CountingJournal(FlakyJournal):
    """Records every transaction (the rows committed together)."""

    def __init__(self) -> None:
        super().__init__(0)
        self.commits: list[list[tuple[str, str]]] = []

    def record_writes(self, writes: Sequence[RecordedWrite]) -> None:
        super().record_writes(writes)
        self.commits.append([(w.issue, w.status) for w in writes])


def test_an_intent_is_committed_at_once_and_applied_rows_ride_with_the_next() -> None:
    """The "unknown" row of each write is committed before the call returns (the write may
    be sent then); the "applied" rows wait for the next intent: one commit per write."""
    inner = CountingJournal()
    guard = GuardedJournal(inner)
    guard.record_write(_write("unknown", "ACME-1"))
    assert inner.commits == [[("ACME-1", "unknown")]]
    guard.record_write(_write("applied", "ACME-1"))
    assert len(inner.commits) == 1  # waiting
    guard.record_write(_write("unknown", "ACME-2"))
    assert inner.commits[-1] == [("ACME-1", "applied"), ("ACME-2", "unknown")]
    guard.record_write(_write("applied", "ACME-2"))
    assert guard.flush() == 0
    assert inner.commits[-1] == [("ACME-2", "applied")]
    assert len(inner.commits) == 3


def test_applied_rows_are_committed_on_their_own_once_a_batch_is_full() -> None:
    """Without intents in between (state read first, already done), a full batch of
    "applied" rows is committed without waiting for the end of the cycle."""
    inner = CountingJournal()
    guard = GuardedJournal(inner, batch_rows=3)
    for n in range(1, 5):
        guard.record_write(_write("applied", f"ACME-{n}"))
    assert [len(c) for c in inner.commits] == [3]
    assert guard.flush() == 0
    assert [len(c) for c in inner.commits] == [3, 1]


def test_an_intent_the_store_refuses_keeps_the_applied_rows_waiting() -> None:
    """A refused transaction commits nothing: the intent is refused (not sent), and the
    "applied" rows that were to go with it are written by the end-of-cycle flush."""
    inner = FlakyJournal(0)
    guard = GuardedJournal(inner, retry_for_s=0.0, pause_s=1.0, sleep=lambda _s: None)
    guard.record_write(_write("applied", "ACME-1"))
    inner.failures = 1
    with pytest.raises(JournalUnavailableError):
        guard.record_write(_write("unknown", "ACME-2"))
    assert inner.rows == []
    assert guard.flush() == 0
    assert [(w.issue, w.status) for w in inner.rows] == [("ACME-1", "applied")]
