"""A seeded synthetic Atlassian site of any size, in the site-file format.

The benchmark and the sandbox CLI (``python -m worker sandbox --generate N --seed S``) use it
to build a site shaped like the conventions the default policies assume: one Jira project per
customer engagement, a project-managers and a sales group, and one Confluence deal page per
customer in the SALES space. Every one of the ``n`` issues is a *candidate*: assigned to an
active project manager and not Done, so ``n`` is exactly what the policy scope returns and the
request-economy formula can be checked against it.

About 5% of the issues (exactly ``round(n * DELIVERABLE_SHARE)``) are pre-signature Sales
deliverables (SOWs, contracts, proposals, redlines, order forms) on customers whose contract is
not signed; the rest is the ordinary mix a services organisation carries on signed accounts:
delivery work (tasks, stories, bugs) and post-signature pricing adjustments, change requests
and escalations (Sales as a resource, which is healthy). So the default policies act on the
deliverables and on nothing else.

Deal pages rotate through every page ``shape`` (``worker.sandbox.shapes``: the Cloud editor,
migrated Server pages, the header row, layouts, horizontal tables, half-filled templates), so
the worker reads them the way real sites write them.

Determinism: everything derives from ``random.Random(seed)``; the same ``(n, seed, flavor)``
gives the same dict, key for key. The output uses the keys of the site-file contract
(``config/sandbox/site-example.yaml``) plus the page ``shape`` extension.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from worker.sandbox.site import PAGE_SHAPES

#: The share of issues that are pre-signature Sales deliverables assigned to a PM.
DELIVERABLE_SHARE = 0.05
#: One customer project per this many issues (the example site has a handful per project).
ISSUES_PER_PROJECT = 200
#: Of the deliverables, this share sits in the Sales desk project instead of the customer's.
SALES_DESK_SHARE = 0.2
#: Of the customers, this share has no signed contract yet.
UNSIGNED_CUSTOMER_SHARE = 0.25

SITE_NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ACCOUNT_FIELD = "customfield_10050"
CONTRACT_FIELD = "customfield_10051"
PM_GROUP = "project-managers"
SALES_GROUP = "sales"
SALES_PROJECT = "SALES"

UNSIGNED_STATUSES = ("Draft", "In negotiation", "Sent for signature")
DELIVERABLE_TYPES = ("Statement of Work", "Contract", "Proposal")
DELIVERABLE_LABELS = ("sow", "contract", "proposal", "redline", "msa", "order-form")
WORK_LABELS = (
    "kickoff",
    "integration",
    "training",
    "data-migration",
    "reporting",
    "go-live",
    "customer-request",
    "backend",
    "ux",
)
OPEN_STATUSES = ("To Do", "In Progress", "Waiting for customer")

_SYLLABLES = (
    "ac", "bel", "cor", "dax", "el", "fin", "gal", "hex", "ion", "jor", "kal", "lum",
    "mor", "nex", "or", "pra", "quin", "ros", "sol", "tar", "umb", "vel", "wex", "zen",
)  # fmt: skip
_SUFFIXES = (
    "Corp", "Industries", "Logistics", "Health", "Bank", "Retail", "Energy", "Labs",
    "Foods", "Insurance", "Media", "Systems",
)  # fmt: skip
_FIRST = (
    "Aisha", "Ben", "Chloe", "Diego", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jonas",
    "Kenji", "Lina", "Mateo", "Nora", "Omar", "Paula", "Quentin", "Rosa", "Sven", "Tara",
    "Umar", "Vera", "Wei", "Yara", "Zoe",
)  # fmt: skip
_LAST = (
    "Adams", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito",
    "Jansen", "Kowalski", "Larsen", "Moreau", "Nakamura", "Okafor", "Petrov", "Rossi",
    "Schmidt", "Tanaka", "Varga", "Weber", "Yilmaz",
)  # fmt: skip

_DELIVERABLE_SUMMARIES = {
    "sow": "Finalize SOW for {account} phase {phase}",
    "contract": "Get the {account} master agreement ready for signature",
    "proposal": "{account} proposal deck for the steering committee",
    "redline": "Follow up with {account} legal on MSA redlines",
    "msa": "Chase {account} procurement on the MSA",
    "order-form": "Prepare the {account} order form for the renewal",
}
_TYPE_LABEL = {"Statement of Work": "sow", "Contract": "contract", "Proposal": "proposal"}
_WORK_SUMMARIES = (
    "Plan kickoff workshop with {account}",
    "Configure SSO for {account} tenant",
    "Migrate {account} historical data (batch {phase})",
    "Weekly status report for {account}",
    "Set up reporting dashboards for {account}",
    "Train {account} admins on the new workflow",
    "Fix import errors in {account} staging",
    "Go-live checklist for {account} wave {phase}",
    "Integrate {account} ERP connector",
    "Review test plan with {account} QA",
)
_RESOURCE_SUMMARIES = {
    "Pricing adjustment": "Adjust day rate for extra {account} workshop",
    "Change request": "Change request: add a reporting module for {account}",
    "Escalation": "Escalation: {account} unhappy with go-live date",
}
_SENTENCES = (
    "The customer asked for this during the last steering meeting and expects an answer soon.",
    "Scope and assumptions are in the shared folder; check the latest version before starting.",
    "Dependencies: the integration team must deliver the test environment first.",
    "Keep the account team in the loop on anything that changes dates or budget.",
    "Acceptance criteria were agreed in the workshop notes linked from the project page.",
    "The previous attempt stalled because the customer's IT contact was on leave for two weeks.",
    "Estimate is three to five days depending on how much of the data needs cleaning.",
    "Please record decisions in the ticket so the next person does not start from scratch.",
    "This blocks the next milestone, so flag early if anything slips.",
    "Legal review may be required if the customer insists on changes to the standard terms.",
)
_WORK_COMMENTS = (
    "Updated the plan; next checkpoint is Thursday.",
    "Deployed to staging, waiting for the customer's smoke test.",
    "Customer confirmed the requirements in today's call.",
    "Blocked on access to the customer's VPN, ticket raised with their IT.",
    "Notes from the workshop are attached to the project page.",
    "Moved the due date after the customer asked for another week.",
)
_SALES_RESOURCE_COMMENTS = (
    "Customer agreed to the revised rate, confirmation in the account notes.",
    "Happy to join the escalation call if it helps.",
    "The amendment is countersigned, you can proceed.",
)
_SALES_ORDER_COMMENTS = (
    "Can you get this over the line today? I need an update by EOD.",
    "What's the status of this? The customer is waiting.",
    "Please send me the latest version before my call tomorrow.",
)


@dataclass(frozen=True, slots=True)
class _Customer:
    account: str
    key: str
    signed: bool
    status: str
    signed_on: str
    executive: str


def generate_site(n: int, *, seed: int, flavor: str = "cloud") -> dict[str, Any]:
    """A site dict in the site-file format with ``n`` candidate issues, deterministic in ``seed``.

    ``flavor`` is ``"cloud"`` or ``"datacenter"``; the content is the same for both.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if flavor not in ("cloud", "datacenter"):
        raise ValueError(f"flavor must be 'cloud' or 'datacenter', got {flavor!r}")
    rng = random.Random(seed)
    pm_count = max(4, min(60, 4 + n // 1000))
    sales_count = max(3, pm_count // 3)
    other_count = max(4, pm_count)
    pms = [_user(rng, "pm", i) for i in range(pm_count)]
    sales = [_user(rng, "sales", i) for i in range(sales_count)]
    others = [_user(rng, "eng", i) for i in range(other_count)]
    # A PM who left: in the group, inactive, assigned nothing (what real directories look like).
    departed = _user(rng, "pm", pm_count)
    departed["active"] = False
    customers = _customers(rng, max(3, math.ceil(n / ISSUES_PER_PROJECT)), sales)
    pm_names = [u["name"] for u in pms]
    sales_names = [u["name"] for u in sales]
    other_names = [u["name"] for u in others]

    issues = _issues(rng, n, customers, pm_names, sales_names, other_names)
    return {
        "site": {
            "flavor": flavor,
            "now": _iso(SITE_NOW),
            "timezone": "Europe/Berlin",
            "search_lag_s": 0,
            "bot": {
                "account_id": "712020:bot-handoff-guard",
                "name": "handoff-bot",
                "display_name": "Handoff Guard",
                "email": "handoff-bot@example.com",
                "api_token": "sandbox-token",
            },
        },
        "users": [*pms, departed, *sales, *others],
        "groups": [
            {"name": PM_GROUP, "group_id": "grp-0001", "members": [*pm_names, departed["name"]]},
            {"name": SALES_GROUP, "group_id": "grp-0002", "members": sales_names},
        ],
        "fields": [
            {"id": ACCOUNT_FIELD, "name": "Account", "type": "string"},
            {
                "id": CONTRACT_FIELD,
                "name": "Contract status",
                "type": "option",
                "options": [*UNSIGNED_STATUSES, "Signed", "Lost"],
            },
        ],
        "workflow": {
            "To Do": "new",
            "In Progress": "indeterminate",
            "Waiting for customer": "indeterminate",
            "Done": "done",
        },
        "issue_types": [
            "Task",
            "Story",
            "Bug",
            *DELIVERABLE_TYPES,
            "Escalation",
            "Pricing adjustment",
            "Change request",
        ],
        "projects": [
            *(
                {"key": c.key, "name": f"{c.account} - Implementation", "lead": lead}
                for c, lead in zip(customers, itertools.cycle(pm_names), strict=False)
            ),
            {"key": SALES_PROJECT, "name": "Sales Desk", "lead": sales_names[0]},
        ],
        "issues": issues,
        "confluence": {
            "spaces": [
                {"key": "SALES", "name": "Sales"},
                {"key": "PS", "name": "Professional Services"},
            ],
            "pages": [_deal_page(i, c) for i, c in enumerate(customers)],
        },
    }


def write_site(path: str | Path, n: int, seed: int, *, flavor: str = "cloud") -> Path:
    """Generate a site and write it as a YAML site file; returns the path written."""
    site = generate_site(n, seed=seed, flavor=flavor)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    # The C dumper is ~10x faster; a 50,000-issue site is tens of megabytes of YAML.
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    with out.open("w", encoding="utf-8") as fh:
        yaml.dump(site, fh, Dumper=dumper, sort_keys=False, allow_unicode=True, width=100)
    return out


def deliverable_keys(site: dict[str, Any]) -> frozenset[str]:
    """The issues of a generated site that are pre-signature Sales deliverables.

    Derived from the site alone (type or label is a deliverable, the customer's deal page says
    unsigned), so tests and the benchmark can check a planner's decisions against it.
    """
    unsigned = {
        page["properties"]["Account"]
        for page in site["confluence"]["pages"]
        if page.get("properties", {}).get("Contract status") in UNSIGNED_STATUSES
    }
    return frozenset(
        issue["key"]
        for issue in site["issues"]
        if issue.get("fields", {}).get(ACCOUNT_FIELD) in unsigned
        and (
            issue["type"] in DELIVERABLE_TYPES
            or any(label in DELIVERABLE_LABELS for label in issue.get("labels", ()))
        )
    )


# --------------------------------------------------------------------------- pieces


def _user(rng: random.Random, role: str, index: int) -> dict[str, Any]:
    first = rng.choice(_FIRST)
    last = rng.choice(_LAST)
    name = f"{role}{index:03d}"
    return {
        "account_id": f"712020:{name}",
        "name": name,
        "display_name": f"{first} {last}",
        "email": f"{first.lower()}.{last.lower()}.{name}@example.com",
    }


def _customers(rng: random.Random, count: int, sales: list[dict[str, Any]]) -> list[_Customer]:
    unsigned_count = min(count - 1, max(1, round(count * UNSIGNED_CUSTOMER_SHARE)))
    unsigned_at = set(rng.sample(range(count), unsigned_count))
    seen_accounts: set[str] = set()
    seen_keys: set[str] = {SALES_PROJECT}
    out: list[_Customer] = []
    for i in range(count):
        stem = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
        account = f"{stem} {rng.choice(_SUFFIXES)}"
        while account in seen_accounts:
            account = f"{account} {len(seen_accounts)}"
        seen_accounts.add(account)
        key = "".join(ch for ch in stem.upper() if ch.isalpha())[:6]
        suffix = 1
        base = key
        while key in seen_keys:
            suffix += 1
            key = f"{base}{suffix}"
        seen_keys.add(key)
        signed = i not in unsigned_at
        signed_on = SITE_NOW - timedelta(days=rng.randint(10, 400))
        out.append(
            _Customer(
                account=account,
                key=key,
                signed=signed,
                status="Signed" if signed else rng.choice(UNSIGNED_STATUSES),
                signed_on=signed_on.date().isoformat() if signed else "",
                executive=rng.choice(sales)["name"],
            )
        )
    return out


def _issues(
    rng: random.Random,
    n: int,
    customers: list[_Customer],
    pms: list[str],
    sales: list[str],
    others: list[str],
) -> list[dict[str, Any]]:
    deliverable_at = set(rng.sample(range(n), round(n * DELIVERABLE_SHARE)))
    unsigned = [c for c in customers if not c.signed]
    signed = [c for c in customers if c.signed]
    sequence: dict[str, int] = {}
    issues: list[dict[str, Any]] = []
    for i in range(n):
        if i in deliverable_at:
            customer = rng.choice(unsigned)
            in_desk = rng.random() < SALES_DESK_SHARE
            issue = _deliverable(rng, customer, in_desk=in_desk)
            project = SALES_PROJECT if in_desk else customer.key
            reporter = customer.executive if rng.random() < 0.7 else rng.choice(sales)
            commenters = [customer.executive, rng.choice(pms), rng.choice(others)]
            sales_orders = True
        else:
            customer = rng.choice(signed)
            project = customer.key
            issue = _ordinary(rng, customer)
            resource = issue["type"] in _RESOURCE_SUMMARIES
            reporter = (
                customer.executive if resource and rng.random() < 0.5 else rng.choice(pms + others)
            )
            commenters = [rng.choice(pms), rng.choice(others)]
            if resource:
                commenters.append(customer.executive)
            sales_orders = False
        sequence[project] = sequence.get(project, 0) + 1
        created = SITE_NOW - timedelta(minutes=rng.randint(60 * 24, 60 * 24 * 120))
        comments = _comments(rng, created, commenters, sales, sales_orders=sales_orders)
        updated = comments[-1]["created"] if comments else _iso(created + timedelta(hours=2))
        issues.append(
            {
                "key": f"{project}-{sequence[project]}",
                "type": issue["type"],
                "summary": issue["summary"],
                "description": " ".join(rng.sample(_SENTENCES, rng.randint(2, 4))),
                "status": rng.choice(OPEN_STATUSES),
                "assignee": rng.choice(pms),
                "reporter": reporter,
                "labels": issue["labels"],
                "created": _iso(created),
                "updated": updated,
                "fields": issue["fields"],
                "comments": comments,
            }
        )
    return issues


def _deliverable(rng: random.Random, customer: _Customer, *, in_desk: bool) -> dict[str, Any]:
    if rng.random() < 0.6:
        kind = rng.choice(DELIVERABLE_TYPES)
        label = _TYPE_LABEL[kind]
    else:
        kind = "Task"
        label = rng.choice(DELIVERABLE_LABELS)
    fields: dict[str, str] = {ACCOUNT_FIELD: customer.account}
    if in_desk:
        # The Sales desk keeps the contract status on the ticket as well (the example's SALES-3).
        fields[CONTRACT_FIELD] = customer.status
    summary = _DELIVERABLE_SUMMARIES[label].format(
        account=customer.account, phase=rng.randint(1, 4)
    )
    return {"type": kind, "summary": summary, "labels": [label], "fields": fields}


def _ordinary(rng: random.Random, customer: _Customer) -> dict[str, Any]:
    fields = {ACCOUNT_FIELD: customer.account}
    labels = rng.sample(WORK_LABELS, rng.randint(0, 2))
    roll = rng.random()
    if roll < 0.12:
        kind = rng.choice(tuple(_RESOURCE_SUMMARIES))
        summary = _RESOURCE_SUMMARIES[kind].format(account=customer.account)
    else:
        kind = "Bug" if roll < 0.25 else ("Story" if roll < 0.45 else "Task")
        summary = rng.choice(_WORK_SUMMARIES).format(
            account=customer.account, phase=rng.randint(1, 6)
        )
    return {"type": kind, "summary": summary, "labels": labels, "fields": fields}


def _comments(
    rng: random.Random,
    created: datetime,
    commenters: list[str],
    sales: list[str],
    *,
    sales_orders: bool,
) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    at = created
    for _ in range(rng.randint(0, 4)):
        at = at + timedelta(minutes=rng.randint(30, 60 * 48))
        if at >= SITE_NOW:
            break
        author = rng.choice(commenters)
        pool: tuple[str, ...] = _WORK_COMMENTS
        if author in sales:
            pool = _SALES_ORDER_COMMENTS if sales_orders else _SALES_RESOURCE_COMMENTS
        out.append({"author": author, "created": _iso(at), "body": rng.choice(pool)})
    return out


def _deal_page(index: int, customer: _Customer) -> dict[str, Any]:
    return {
        "id": str(300001 + index),
        "space": "SALES",
        "title": f"Deal: {customer.account}",
        "labels": ["deal"],
        "shape": PAGE_SHAPES[index % len(PAGE_SHAPES)],
        "created_by": customer.executive,
        "properties": {
            "Account": customer.account,
            "Jira project": customer.key,
            "Contract status": customer.status,
            "Signed on": customer.signed_on,
            "Account executive": f"@{customer.executive}",
        },
        "body": f"<p>Commercial record for {customer.account}.</p>",
        # Written weeks ago and last edited a day later: only pages edited from now on are
        # "modified since" for an incremental cycle (a page without times counts as new).
        "created": _iso(SITE_NOW - timedelta(days=30 + index % 60)),
        "updated": _iso(SITE_NOW - timedelta(days=29 + index % 60)),
    }


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")
