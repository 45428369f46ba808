"""``run``: the service (scheduler, health, signals), or one cycle with ``--once``."""

from __future__ import annotations

import argparse
import json
import sys
import threading

import structlog

from worker.cli.errors import error
from worker.exits import EXIT_OK
from worker.settings.env import Settings
from worker.telemetry import logs

# The cycle and the store are imported by the command, not here: every command's first line
# shows within a fraction of a second.

log = structlog.get_logger(__name__)


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    """``run``: the service (scheduler, health, signals) or one cycle with ``--once``."""
    from worker.cycle.runner import CycleRunner
    from worker.cycle.source import PolicySource
    from worker.service.shell import Service
    from worker.service.store_wait import wait_for_store
    from worker.state.lease import Lease
    from worker.state.store import Store
    from worker.telemetry.health import Health
    from worker.telemetry.metrics import Metrics

    settings.check_atlassian()
    health = Health(interval_s=300.0)
    metrics = Metrics()
    server = None
    if args.once:
        store = Store.open(settings.state, lease_s=settings.lease_s)
    else:
        # The service outlives a store unreachable at start: probes up, not ready, retrying.
        waited, server = wait_for_store(
            lambda: Store.open(settings.state, lease_s=settings.lease_s), health, metrics,
            http_port=settings.http_port, http_host=settings.http_host,
            lease_s=settings.lease_s)
        if waited is None:
            return EXIT_OK  # stopped before the store ever answered
        store = waited
    runner = CycleRunner(settings, store, health=health, metrics=metrics,
                         source=PolicySource(settings.config_path, health=health),
                         lease=Lease(store, period_s=settings.lease_s))
    if args.once:
        runner.source.current()  # an invalid policy file: exit 1 before anything else
        stopping = threading.Event()
        _install_once_signals(stopping)
        try:
            report = runner.run(dry_run=args.dry_run, stopping=stopping)
        finally:
            if runner.lease is not None:
                runner.lease.release()
            store.close()
        sys.stdout.write(json.dumps(logs.scrub_value(report.summary()), default=str) + "\n")
        if report.error_kind is not None:
            error(f"cycle failed ({report.error_kind}): {report.error}")
        return report.exit_code
    # The service outlives an invalid policy file: up, not ready, waiting for a valid one.
    service = Service(runner, dry_run=args.dry_run, http_port=settings.http_port,
                      http_host=settings.http_host, health=health, metrics=metrics,
                      server=server)
    service.install_signal_handlers()
    return service.run()


def _install_once_signals(stopping: threading.Event) -> None:
    import signal

    def handler(signum: int, _frame: object) -> None:
        if stopping.is_set():
            raise KeyboardInterrupt
        log.info("service.stopping", signal=signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
