"""Who may be assigned issues, as Jira answers it: the project list and the assignable-user
search that ``validate --site`` asks before a policy names someone as a target.

* ``GET /rest/api/{2,3}/project``: every project the caller can browse (the old list form
  both flavors still serve).
* ``GET /rest/api/{2,3}/user/assignable/search?project=KEY`` with ``accountId`` (Cloud) or
  ``username`` (Data Center): the users who may be assigned issues in that project (active,
  and not among the project's ``not_assignable``), an empty list when the named user may not;
  an unknown project is 404.
"""

from __future__ import annotations

from worker.sandbox.context import Ctx, Reply
from worker.sandbox.errors import ApiError, bad_request
from worker.sandbox.render import project_json, user_json


def list_projects(ctx: Ctx) -> Reply:
    """``GET /project``: every project, in the site file's order."""
    return 200, [project_json(ctx.world, p.key, ctx.base, api=ctx.api)
                 for p in ctx.world.site.projects]


def assignable_users(ctx: Ctx) -> Reply:
    """``GET /user/assignable/search``: the project's assignable users (one when named)."""
    world = ctx.world
    key = ctx.arg("project")
    if not key:
        raise bad_request("The 'project' or 'issueKey' query parameter is required.")
    project = next((p for p in world.site.projects if p.key == key.upper()), None)
    if project is None:
        raise ApiError(404, f"No project could be found with key '{key}'.")
    named = ctx.arg("accountId") if world.cloud else ctx.arg("username")
    users = [u for u in world.site.users
             if u.active and u.name not in project.not_assignable
             and u.account_id not in project.not_assignable
             and (named is None or world.ident(u) == named)]
    return 200, [user_json(world, u, ctx.base, api=ctx.api) for u in users]
