"""Loading: every kind of invalid file gives file, line, path and a helpful message."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml
from policy_factories import CONFIG

from worker.policy import PolicyError, json_schema, load_policies, load_policies_text

TEMPLATES = CONFIG.parent

GOOD = """\
version: 1
policies:
  - id: p1
    description: test
    conditions:
      - assignee_in: pm
    actions:
      - comment: sales-deliverable
"""


def _problems(text: str) -> list[tuple[int, str, str]]:
    with pytest.raises(PolicyError) as info:
        load_policies_text(text, filename="bad.yaml", base_dir=TEMPLATES)
    assert all(p.file == "bad.yaml" for p in info.value.problems)
    return [(p.line, p.path, p.message) for p in info.value.problems]


def test_good_minimal_file_loads_with_dry_run_default() -> None:
    """A minimal file loads; a policy without mode is dry-run; safety defaults are conservative."""
    policies = load_policies_text(GOOD, base_dir=TEMPLATES)
    assert policies.policies[0].mode == "dry-run"
    assert policies.safety.max_actions_per_cycle == 50
    assert policies.safety.breaker.max_matches == 25


@pytest.mark.parametrize(
    ("old", "new", "line", "path", "message"),
    [
        (
            "    conditions:\n",
            "    exmpt: []\n    conditions:\n",
            5,
            "policies[0].exmpt",
            "unknown key 'exmpt'; did you mean 'exempt'?",
        ),
        (
            "      - comment: sales-deliverable\n",
            "      - comment: sales-deliverable\n"
            "      - after: 2 bizness days\n        flag: true\n",
            9,
            "policies[0].actions[1].after",
            "found '2 bizness days', expected a duration like '2 business days' or '36h'",
        ),
        (
            "assignee_in: pm",
            "assignee_in: pms",
            6,
            "policies[0].conditions[0].assignee_in",
            "unknown people set 'pms' (defined: pm, sales); did you mean 'pm'?",
        ),
        (
            "assignee_in: pm",
            "isue_type_in: [SOW]",
            6,
            "policies[0].conditions[0].isue_type_in",
            "unknown condition 'isue_type_in'; did you mean 'issue_type_in'?",
        ),
        (
            "assignee_in: pm",
            "text_matches: {regex: 'sow('}",
            6,
            "policies[0].conditions[0].text_matches.regex",
            "found 'sow(': regular expression does not compile (RE2 syntax, linear time): "
            "missing ): sow(",
        ),
        (
            "assignee_in: pm",
            "text_matches: {regex: '(?<!pre)sow'}",
            6,
            "policies[0].conditions[0].text_matches.regex",
            "found '(?<!pre)sow': regular expression does not compile (RE2 syntax, linear time): "
            "invalid perl operator: (?<!; lookbehind is not supported",
        ),
        (
            "assignee_in: pm",
            "text_matches: {regex: '(sow) again \\1'}",
            6,
            "policies[0].conditions[0].text_matches.regex",
            "found '(sow) again \\\\1': regular expression does not compile (RE2 syntax, "
            "linear time): invalid escape sequence: \\1; backreferences are not supported",
        ),
        (
            "comment: sales-deliverable",
            "coment: sales-deliverable",
            8,
            "policies[0].actions[0].coment",
            "unknown action 'coment'; did you mean 'comment'?",
        ),
        (
            "comment: sales-deliverable",
            "comment: no-such-template",
            8,
            "policies[0].actions[0].comment",
            "template 'no-such-template' not found",
        ),
        (
            "    description: test\n",
            "    description: test\n    mode: enforced\n",
            5,
            "policies[0].mode",
            "found 'enforced', expected 'enforce', 'dry-run' or 'off'",
        ),
        (
            "version: 1\n",
            "version: 1\nsafety: {max_actions_per_cycle: -1}\n",
            2,
            "safety.max_actions_per_cycle",
            "found -1, expected greater than or equal to 0",
        ),
        ("    description: test\n", "", 3, "policies[0]", "missing required key 'description'"),
        (
            "      - comment: sales-deliverable\n",
            "      - after: 1d\n        comment: sales-deliverable\n",
            8,
            "policies[0].actions[0].after",
            "found '1d': the first step runs when a ticket is first flagged",
        ),
        (
            "assignee_in: pm",
            "assignee_in: pm\n        project_in: [A]",
            6,
            "policies[0].conditions[0]",
            "a condition has exactly one name, found 2",
        ),
        (
            "version: 1\n",
            "version: 1\nschedule: {every: 15m, timezone: Mars/Base}\n",
            2,
            "schedule.timezone",
            "found 'Mars/Base', expected a timezone name",
        ),
    ],
)
def test_invalid_file(old: str, new: str, line: int, path: str, message: str) -> None:
    """Each kind of mistake is reported at its line with its path and a precise message."""
    assert old in GOOD
    problems = _problems(GOOD.replace(old, new, 1))
    assert any(
        p_line == line and p_path == path and p_msg.startswith(message)
        for p_line, p_path, p_msg in problems
    ), problems


def test_duplicate_policy_id() -> None:
    """Two policies with one id are reported at the second id."""
    text = GOOD + GOOD.split("policies:\n", 1)[1]
    assert (9, "policies[1].id", "duplicate policy id 'p1' (also policies[0])") in _problems(text)


def test_yaml_syntax_error_has_its_mark() -> None:
    """A YAML syntax error is reported with its line and column."""
    with pytest.raises(PolicyError) as info:
        load_policies_text("version: 1\npolicies: [\n  - id: x\n", filename="bad.yaml")
    (problem,) = info.value.problems
    assert problem.line == 3
    assert problem.message.startswith("YAML syntax error")
    assert str(problem).startswith("bad.yaml:3:")


def test_many_mistakes_reported_together() -> None:
    """Five different mistakes in one file are all reported, in line order."""
    text = (
        GOOD.replace("    conditions:\n", "    exmpt: []\n    conditions:\n")
        .replace("assignee_in: pm", "assignee_in: pms")
        .replace("comment: sales-deliverable", "comment: nope")
        .replace("version: 1\n", "version: 1\nschedule: {every: soon}\n")
        + "      - after: 2 bizness days\n        flag: true\n"
    )
    problems = _problems(text)
    assert len(problems) == 5
    assert [p[0] for p in problems] == sorted(p[0] for p in problems)


def test_error_string_format() -> None:
    """PolicyError renders one file:line:col: path: message line per problem."""
    with pytest.raises(PolicyError) as info:
        load_policies_text(
            GOOD.replace("mode", "x").replace("assignee_in: pm", "assignee_in: q"),
            filename="f.yaml",
            base_dir=TEMPLATES,
        )
    assert str(info.value).startswith("f.yaml:6:22: policies[0].conditions[0].assignee_in: ")


def test_every_config_file_validates() -> None:
    """The shipped policies.yaml loads, and it validates against the generated JSON Schema."""
    load_policies(CONFIG)
    # Through JSON, as an editor sees it: YAML dates become strings.
    as_json = json.loads(json.dumps(yaml.safe_load(CONFIG.read_text()), default=str))
    jsonschema.validate(as_json, json_schema())


def test_schema_rejects_unknown_keys() -> None:
    """The JSON Schema rejects unknown keys at the top, in policies, conditions and steps."""
    schema = json_schema()
    json.dumps(schema)
    good = yaml.safe_load(GOOD)
    jsonschema.validate(good, schema)
    for bad in (
        {**good, "polices": []},
        {**good, "policies": [{**good["policies"][0], "exmpt": []}]},
        {**good, "policies": [{**good["policies"][0], "conditions": [{"assignee": "pm"}]}]},
        {**good, "policies": [{**good["policies"][0], "actions": [{"coment": "x"}]}]},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)


def test_unquoted_off_means_the_mode() -> None:
    """`mode: off` (YAML reads it as false) disables the policy instead of failing."""
    policies = load_policies_text(
        GOOD.replace("    conditions:\n", "    mode: off\n    conditions:\n", 1), base_dir=TEMPLATES
    )
    assert policies.policies[0].mode == "off"


def test_duplicate_yaml_key() -> None:
    """A key given twice in one mapping is reported at the second occurrence."""
    text = GOOD.replace(
        "    description: test\n", "    description: test\n    description: again\n"
    )
    assert (5, "policies[0].description", "duplicate key 'description'") in _problems(text)
