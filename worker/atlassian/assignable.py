"""Whether a person may be assigned issues, asked of Jira: the projects the bot can browse and,
per project, the assignable-user search narrowed to that person (``validate --site``)."""

from __future__ import annotations

from worker.atlassian.jira import JiraGateway


def project_keys(jira: JiraGateway) -> tuple[str, ...]:
    """The keys of every project the bot can browse (``GET /project``)."""
    raw = jira.transport.call("GET", f"{jira.api}/project")
    if not isinstance(raw, list):
        return ()
    return tuple(str(p["key"]) for p in raw if isinstance(p, dict) and p.get("key"))


def assignable_in(jira: JiraGateway, person_id: str, project: str) -> bool:
    """True when Jira lists ``person_id`` among the users assignable in ``project``."""
    who = {"accountId": person_id} if jira.flavor == "cloud" else {"username": person_id}
    raw = jira.transport.call("GET", f"{jira.api}/user/assignable/search",
                              params={"project": project, **who, "maxResults": 2})
    if not isinstance(raw, list):
        return False
    key = "accountId" if jira.flavor == "cloud" else "name"
    return any(isinstance(u, dict) and u.get(key) == person_id for u in raw)
