"""Step numbers agree everywhere (validate, history JSON and CSV, explain, the status page:
from 1), and the history CSV has the evidence column the README documents. Real cycles on the
demo sandbox, the second one two days later by the sandbox clock."""

from __future__ import annotations

import csv
import io
import json

from tests.service.conftest import Cli
from worker.sandbox import Sandbox
from worker.state.history import CSV_COLUMNS


def test_steps_count_from_one_and_csv_has_evidence(cli: Cli, demo_sandbox: Sandbox) -> None:
    """The first comment is step 1 and the reassignment two days later step 2, in validate's
    summary, history's JSON and CSV, and explain; each CSV row says why."""
    code, out, _ = cli("validate")
    assert code == 0
    assert "step 1, at once: comment (sales-deliverable)" in out
    assert "step 2, after 2 business days still matching: reassign" in out
    assert cli("run", "--once")[0] == 0
    demo_sandbox.advance("2d")
    assert cli("run", "--once")[0] == 0

    code, out, _ = cli("history", "--issue", "ACME-1", "--format", "json")
    assert code == 0
    acted = [r for r in json.loads(out)["rows"]
             if r["verdict"] == "act" and r["policy"] == "sales-deliverable-before-signature"]
    assert [(r["step"], r["actions"]) for r in acted] == [(1, ["comment"]),
                                                        (2, ["reassign", "label"])]

    code, out, _ = cli("history", "--issue", "ACME-1", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert CSV_COLUMNS[-1] == "evidence"
    first = next(r for r in rows if r["verdict"] == "act" and r["step"] == "1")
    assert "deal Acme Corp is In negotiation" in first["evidence"]
    assert next(r for r in rows if r["verdict"] == "act" and r["step"] == "2")

    code, out, _ = cli("explain", "ACME-1", "--format", "json")
    assert code == 0
    found = json.loads(out)
    steps = found["state"]["sales-deliverable-before-signature"]["steps"]
    assert [s["step"] for s in steps] == [1, 2]
    assert {h["step"] for h in found["history"] if h["verdict"] == "act"} <= {1, 2}
    code, out, _ = cli("explain", "ACME-1")
    assert "step 1 comment at" in out
    assert "step 2 reassign+label at" in out
