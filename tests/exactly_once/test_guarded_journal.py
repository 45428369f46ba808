"""GuardedJournal's rules with a hand-written journal that fails on cue (no sleeping)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import pytest

from worker.journal import GuardedJournal, JournalUnavailableError
from worker.model import BotState, RecordedWrite

AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


class FlakyJournal:
    """Refuses the first ``failures`` calls, then records."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.rows: list[RecordedWrite] = []

    def record_write(self, write: RecordedWrite) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise OSError("database is locked")
        self.rows.append(write)

    def recent_writes(self, *, since: datetime) -> Mapping[str, RecordedWrite]:
        return {w.issue: w for w in self.rows}


def _write(status: str, issue: str = "ACME-1") -> RecordedWrite:
    return RecordedWrite(issue, "1", AT, BotState(), status)  # type: ignore[arg-type]


def _guard(failures: int, *, retries: int) -> tuple[FlakyJournal, GuardedJournal]:
    inner = FlakyJournal(failures)
    return inner, GuardedJournal(inner, retry_for_s=retries * 1.0, pause_s=1.0,
                                 sleep=lambda _s: None)


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
    inner, guard = _guard(1, retries=0)
    guard.record_write(_write("applied"))
    assert inner.rows == []
    assert guard.flush() == 0
    assert [w.status for w in inner.rows] == ["applied"]
    assert guard.failure is not None  # the cycle still reports the stumble
