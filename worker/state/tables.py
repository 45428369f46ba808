"""The store's current schema, as SQLAlchemy Core tables.

The tables the migrations (:mod:`worker.state.migrations`) build: ``cycles``, ``decisions``,
``outcomes``, the write journal ``writes``, the leader ``lease`` and ``meta``. Times are stored
as UTC whatever the database (:class:`UTCDateTime`).
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa


class UTCDateTime(sa.TypeDecorator[datetime]):
    """An aware datetime stored as ISO-8601 UTC text: sorts correctly, same on every backend."""

    impl = sa.String(40)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> str | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the store only accepts timezone-aware datetimes")
        return value.astimezone(UTC).isoformat(timespec="microseconds")

    def process_result_value(self, value: str | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else datetime.fromisoformat(value)


# The tables as the newest revision leaves them (``worker/state/migrations/versions``), for queries
# only: the migrations create and change them, never this metadata.
metadata = sa.MetaData()


#: the run id of a ``revert`` run starts with this: it is recorded beside the cycles (so
#: ``history`` shows it) but is not a cycle (reports and the status page leave it out)
REVERT_RUN_PREFIX = "revert-"


cycles = sa.Table(
    "cycles",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("started_at", UTCDateTime, nullable=False),  # wall clock
    sa.Column("finished_at", UTCDateTime),
    sa.Column("site_now", UTCDateTime),  # the Atlassian site's clock the plan used
    sa.Column("dry_run", sa.Boolean, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # running | ok | failed | stopped
    sa.Column("error", sa.Text),
    sa.Column("issues_read", sa.Integer, nullable=False, default=0),
    sa.Column("actions_applied", sa.Integer, nullable=False, default=0),
    sa.Column("actions_failed", sa.Integer, nullable=False, default=0),
    sa.Column("requests", sa.Integer, nullable=False, default=0),
    sa.Column("retries", sa.Integer, nullable=False, default=0),
    sa.Column("duration_s", sa.Float),
    sa.Column("counts", sa.JSON),  # {policy: {verdict: n}}
    sa.Column("config_sha256", sa.String(64)),
    # what the cycle read: everything (true; null for cycles before incremental reads, all
    # full), or part of the scope (false), then ``read_keys`` are the tickets it looked at
    sa.Column("read_full", sa.Boolean),
    sa.Column("read_keys", sa.JSON),
)


decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), nullable=False, index=True),
    sa.Column("at", UTCDateTime, nullable=False),  # site clock
    sa.Column("issue", sa.String(64), nullable=False),
    sa.Column("policy", sa.String(128), nullable=False),
    sa.Column("mode", sa.String(16), nullable=False),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("step", sa.Integer),
    sa.Column("reason", sa.Text),
    sa.Column("actions", sa.JSON, nullable=False),
    sa.Column("evidence", sa.JSON, nullable=False),
    sa.Column("recheck_at", UTCDateTime),  # when to read the issue again even if unchanged
    sa.Column("subject", sa.JSON),  # assignee, customer, account executive, deal page
    # a waiting decision's next step (index from 0) and when it falls due (revision 0006)
    sa.Column("due_step", sa.Integer),
    sa.Column("due_at", UTCDateTime),
)


outcomes = sa.Table(
    "outcomes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), nullable=False, index=True),
    sa.Column("at", UTCDateTime, nullable=False),  # site clock
    # indexed (revision 0007): each cycle looks up the tickets it wrote the cycle before
    sa.Column("issue", sa.String(64), nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("actions", sa.JSON, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("http_status", sa.Integer),
    sa.Column("retryable", sa.Boolean, nullable=False),
    sa.Column("changes", sa.JSON),  # what the write changed: previous_assignee, labels_added...
)


writes = sa.Table(
    "writes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("issue", sa.String(64), nullable=False),
    sa.Column("issue_id", sa.String(64), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),  # site clock
    sa.Column("state", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
)


lease = sa.Table(
    "lease",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("fencing", sa.BigInteger, nullable=False),  # +1 at every change of holder
    sa.Column("acquired_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
)


meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.String(128), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
