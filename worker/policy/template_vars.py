"""The variables a comment template sees for one ticket and step (the names are
:data:`worker.policy.template_samples.VARIABLES`)."""

from __future__ import annotations

from typing import Any

from worker.model.people import Person
from worker.policy.context import StepContext, TicketContext
from worker.policy.template_samples import deal_pages_where

_QUIET = frozenset({"assignee_in", "reporter_in", "status_category_in", "not"})

def template_vars(
    ctx: TicketContext,
    step: StepContext,
    *,
    new_owner: Person | None = None,
    new_owner_why: str | None = None,
) -> dict[str, Any]:
    """The variables a comment template sees for one ticket and step (``new_owner`` and
    ``new_owner_why`` only in the note to the person a reassignment gives the ticket to)."""
    snap = ctx.snapshot
    finding = ctx.deal()
    deal = finding.deal
    deal_vars = None
    if deal is not None or finding.status:
        deal_vars = {
            "account": deal.account if deal else None,
            "contract_status": finding.status,
            "source": finding.evidence,
            "url": deal.page_url if deal else None,
        }
    page = None
    if deal is not None and deal.page_id is not None:
        page = {"title": deal.page_title or deal.source, "url": deal.page_url}
    cfg = ctx.plan.policies.deals
    pages = cfg.pages
    at = step.next_step_at.astimezone(ctx.plan.tz) if step.next_step_at else None
    account = snap.fields.get(cfg.account_field) if cfg.account_field else None
    if isinstance(account, tuple):
        account = account[0] if account else None
    return {
        "issue": {
            "key": snap.key,
            "summary": snap.summary,
            "type": snap.issue_type,
            "project": snap.project,
        },
        "policy": {"id": step.policy_id, "description": step.policy_description},
        "deal": deal_vars,
        "deal_page": page,
        "deal_pages": deal_pages_where(pages.cql if pages else None),
        "contract_state": finding.state,
        "sales_owner": ctx.sales_owner().person,
        "evidence": [e.detail for e in step.evidence if e.result and e.condition not in _QUIET],
        "next_step": step.next_step,
        "next_step_at": at,
        "opt_out_label": ctx.plan.policies.opt_out_label,
        "new_owner": new_owner,
        "new_owner_why": new_owner_why,
        "previous_assignee": snap.assignee,
        # the customer in words: the deal page's account, else the ticket's own field
        "customer": (deal.account if deal is not None and deal.account else None)
        or (account.strip() if isinstance(account, str) and account.strip() else None),
        "fields": {"account": cfg.account_field, "status": cfg.status_field},
    }
