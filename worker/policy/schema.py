"""The policy file's typed schema (pydantic), and the JSON Schema generated from it.

The top level, each policy, each condition and each ladder step are validated separately by
``worker.policy.load`` so that every mistake in a file is reported in one go. The JSON
Schema for editors is assembled here from these models and the two registries.
"""

from __future__ import annotations

import copy
from datetime import date
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from worker.model.deals import DealSource
from worker.model.state import DEFAULT_PROPERTY_KEY
from worker.policy import field_conditions  # noqa: F401  (registers its kinds)
from worker.policy.actions import actions
from worker.policy.conditions import DurationField, conditions
from worker.policy.contract_status import DEFAULT_UNSIGNED_VALUES
from worker.policy.durations import Duration, parse_duration
from worker.policy.schedule import CRON_HINT, cron_problem, interval_problem

ID_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
COMPOSITES = ("all", "any", "not")
_DEALS = DealSource()


def _interval(value: object) -> Duration:
    return parse_duration(value, allow_business=False)


def _timezone(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a timezone name like 'Europe/Berlin'")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("expected a timezone name like 'Europe/Berlin' or 'UTC'") from None
    return value


def _every(value: object) -> Duration:
    duration = parse_duration(value, allow_business=False)
    problem = interval_problem(duration)
    if problem is not None:
        raise ValueError(problem)
    return duration


def _cron(value: object) -> str:
    # Each field is checked by the loader with APScheduler's own parser (it knows the column).
    if not isinstance(value, str):
        raise ValueError(CRON_HINT)
    return value


Interval = Annotated[
    Duration,
    PlainValidator(_interval),
    WithJsonSchema({"type": "string", "examples": ["15m", "1h"]}),
]
Every = Annotated[
    Duration,
    PlainValidator(_every),
    WithJsonSchema({"type": "string", "examples": ["15m", "1h"]}),
]
TimeZone = Annotated[str, PlainValidator(_timezone), WithJsonSchema({"type": "string"})]
Cron = Annotated[str, PlainValidator(_cron), WithJsonSchema({"type": "string"})]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)

    @model_validator(mode="before")
    @classmethod
    def _empty_is_default(cls, value: Any) -> Any:
        # `sales_owner:` with only comments under it is YAML null: take the defaults.
        return {} if value is None else value


class ScheduleModel(_Strict):
    """When cycles run: ``every`` (an interval) or ``cron``, in ``timezone``."""

    every: Every | None = None
    cron: Cron | None = None
    timezone: TimeZone = "UTC"
    misfire_grace: Interval = Field(default_factory=lambda: parse_duration("5m"))

    @model_validator(mode="after")
    def _one(self) -> ScheduleModel:
        if self.every is not None and self.cron is not None:
            raise ValueError("give `every` or `cron`, not both")
        return self


#: how a limit is lifted in the policy file (a benchmark, a site that trusts its policies)
UNLIMITED = "unlimited"


class BreakerModel(_Strict):
    """A policy matching more tickets than this plans nothing (and says so)."""

    max_matches: Annotated[int, Field(ge=1)] | Literal["unlimited"] = 25
    max_percent: Annotated[float, Field(gt=0, le=100)] = 50.0
    min_scope: Annotated[int, Field(ge=1)] = 20


class SafetyModel(_Strict):
    """Per-cycle limits: how many actions in total, and the blast-radius breaker."""

    max_actions_per_cycle: Annotated[int, Field(ge=0)] | Literal["unlimited"] = 50
    breaker: BreakerModel = Field(default_factory=BreakerModel)


class StateModel(_Strict):
    """Where the bot records what it did on each ticket."""

    property_key: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,255}$")] = DEFAULT_PROPERTY_KEY


class PeopleSetModel(_Strict):
    """A people set: members of Jira groups and/or explicit user ids."""

    groups: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    users: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _some(self) -> PeopleSetModel:
        if not self.groups and not self.users:
            raise ValueError("give `groups` and/or `users`")
        return self


class DealPagesModel(_Strict):
    """Confluence deal pages: the CQL that finds them and their Page Properties names."""

    cql: str = _DEALS.cql
    account_property: str = _DEALS.account_property
    project_property: str = _DEALS.project_property
    status_property: str = _DEALS.status_property
    signed_on_property: str = _DEALS.signed_on_property
    executive_property: str = _DEALS.executive_property
    #: the ``id`` parameter of the details macro to read when a page has several
    details_id: str | None = None
    #: a read that finds fewer than this share of the last successful read's deal pages
    #: is a failed read (contract-dependent policies skip that cycle)
    min_pages_share: Annotated[float, Field(ge=0, le=1)] = _DEALS.min_pages_share
    #: true when finding no deal page at all is right (a site with no deals yet); false: a
    #: read that finds none, with no earlier good read to compare with, is a failed read
    zero_pages_ok: bool = False


class DealsModel(_Strict):
    """Where contract status comes from: the ticket's field first, then the deal page."""

    status_field: str | None = "Contract status"
    account_field: str | None = "Account"
    pages: DealPagesModel | None = Field(default_factory=DealPagesModel)
    signed_values: Annotated[list[str], Field(min_length=1)] = Field(
        default_factory=lambda: ["Signed"]
    )
    #: statuses that mean "not signed yet"; a status in neither list is unreadable (skip)
    unsigned_values: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=lambda: list(DEFAULT_UNSIGNED_VALUES)
    )
    #: how a typed ``10/11/2026`` reads: ``dmy`` (10 November) or ``mdy`` (October 11);
    #: unset, such a date is not read (unambiguous ones like ``25/10/2026`` still are)
    date_order: Literal["dmy", "mdy"] | None = None


class PersonModel(_Strict):
    """A Jira user: ``id`` (accountId on Cloud, username on Data Center) and a name."""

    id: Annotated[str, Field(min_length=1)]
    display_name: Annotated[str, Field(min_length=1)]


class SalesOwnerModel(_Strict):
    """Who owns Sales work when the deal names no active account executive."""

    fallback: PersonModel | None = None


class OptOutModel(_Strict):
    """Labels that exempt a ticket from every policy (a policy may say ``ignore_opt_out``).

    Comments promise the first label ("add the label handoff-exception and I will leave it
    alone"), so the promise and the rule are one value.
    """

    labels: Annotated[list[Annotated[str, Field(pattern=r"^\S+$")]], Field(min_length=1)] = (
        Field(default_factory=lambda: ["handoff-exception"])
    )


class CalendarModel(_Strict):
    """Days that are not business days (besides Saturday and Sunday)."""

    holidays: list[date] = Field(default_factory=list)


def _default_people() -> dict[str, PeopleSetModel]:
    return {
        "pm": PeopleSetModel(groups=["project-managers"]),
        "sales": PeopleSetModel(groups=["sales"]),
    }


class ReportModel(_Strict):
    """The leadership report's Confluence page: one page, found by ``space`` and ``title``
    (created when missing), updated on ``schedule`` (cron, in the file's timezone) with the
    last ``weeks`` weeks and the chart attached as ``attachment``."""

    space: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9~_-]+$")]
    title: Annotated[str, Field(min_length=1, max_length=255)] = "Handoff Guard weekly report"
    schedule: Cron = "0 8 * * mon"
    weeks: Annotated[int, Field(ge=1, le=52)] = 12
    attachment: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]+\.png$")] = (
        "handoff-guard-report.png"
    )

    @field_validator("schedule")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        # The same check as the cycle schedule's: what APScheduler would refuse, and why.
        found = cron_problem(value)
        if found is not None:
            raise ValueError(found.message)
        return value


class FileModel(_Strict):
    """The top level of ``policies.yaml``."""

    version: Literal[1]
    schedule: ScheduleModel = Field(default_factory=ScheduleModel)
    safety: SafetyModel = Field(default_factory=SafetyModel)
    state: StateModel = Field(default_factory=StateModel)
    people: dict[Annotated[str, Field(pattern=ID_PATTERN)], PeopleSetModel] = Field(
        default_factory=_default_people
    )
    deals: DealsModel = Field(default_factory=DealsModel)
    sales_owner: SalesOwnerModel = Field(default_factory=SalesOwnerModel)
    opt_out: OptOutModel = Field(default_factory=OptOutModel)
    calendar: CalendarModel = Field(default_factory=CalendarModel)
    #: the folder of comment templates, relative to the policy file
    templates: str = "templates"
    report: ReportModel | None = None
    policies: Annotated[list[Any], Field(min_length=1)]


class PolicyModel(_Strict):
    """One policy. ``conditions`` must all hold; any ``exempt`` condition exempts."""

    id: Annotated[str, Field(pattern=ID_PATTERN)]
    description: Annotated[str, Field(min_length=1)]
    mode: Literal["enforce", "dry-run", "off"] = "dry-run"
    scope: Annotated[str, Field(min_length=1)] | None = None
    conditions: Annotated[list[Any], Field(min_length=1)]
    exempt: list[Any] = Field(default_factory=list)
    actions: Annotated[list[Any], Field(min_length=1)]
    continue_: bool = Field(default=False, alias="continue")
    #: act even on tickets carrying an opt-out label (``validate`` warns about it)
    ignore_opt_out: bool = False
    max_actions_per_cycle: Annotated[int, Field(ge=0)] | None = None
    breaker: BreakerModel | None = None

    @field_validator("mode", mode="before")
    @classmethod
    def _yaml_off(cls, value: Any) -> Any:
        # YAML 1.1 reads an unquoted `off` as false; the admin meant the mode.
        return "off" if value is False else value


class StepModel(_Strict):
    """The ``after`` key of a ladder step (its other keys are actions)."""

    after: DurationField = Field(default_factory=lambda: parse_duration("0"))


# --------------------------------------------------------------------------- JSON Schema


def _inline(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    schema = copy.deepcopy(schema)
    defs.update(schema.pop("$defs", {}))
    return schema


def _plugin_schema(cls: type[BaseModel], defs: dict[str, Any]) -> dict[str, Any]:
    schema = _inline(cls.model_json_schema(), defs)
    short = getattr(cls, "shorthand", None)
    if short and short in schema.get("properties", {}):
        bare = copy.deepcopy(schema["properties"][short])
        bare.pop("default", None)
        if bare.get("type") == "array":
            bare = {"anyOf": [bare["items"], bare]}  # one item may be written without brackets
        return {"anyOf": [bare, schema]}
    return schema


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the policy file, generated from the models and the registries."""
    defs: dict[str, Any] = {}
    root = _inline(FileModel.model_json_schema(), defs)
    ref_cond = {"$ref": "#/$defs/Condition"}
    choices: list[dict[str, Any]] = []
    for name, cls in conditions:
        if name in COMPOSITES:
            value: dict[str, Any] = (
                ref_cond if name == "not" else {"type": "array", "items": ref_cond, "minItems": 1}
            )
        else:
            value = _plugin_schema(cls, defs)
        choices.append(
            {
                "type": "object",
                "properties": {name: value},
                "required": [name],
                "additionalProperties": False,
                "description": (cls.__doc__ or "").strip(),
            }
        )
    defs["Condition"] = {"anyOf": choices}
    step_props: dict[str, Any] = dict(_inline(StepModel.model_json_schema(), defs)["properties"])
    for name, acls in actions:
        schema = _plugin_schema(acls, defs)
        schema["description"] = (acls.__doc__ or "").strip()
        step_props[name] = schema
    defs["Step"] = {
        "type": "object",
        "properties": step_props,
        "additionalProperties": False,
        "minProperties": 1,
        "description": "A ladder step: `after` and the actions to take.",
    }
    policy = _inline(PolicyModel.model_json_schema(by_alias=True), defs)
    for key in ("conditions", "exempt"):
        policy["properties"][key]["items"] = ref_cond
    policy["properties"]["actions"]["items"] = {"$ref": "#/$defs/Step"}
    defs["Policy"] = policy
    root["properties"]["policies"]["items"] = {"$ref": "#/$defs/Policy"}
    root["$defs"] = defs
    root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    root["title"] = "Handoff Guard policy file"
    return root
