"""Checks of blindvault's alerting rules and Grafana dashboard, for scripts/check-chart.

- PROMETHEUS_RULE_SCHEMA: a structural subset of prometheus-operator's PrometheusRule CRD
  (monitoring.coreos.com/v1), strict about the fields the chart writes: every field name
  below exists in the real CRD, and an unknown one is an error, as it is for the API server.
- rule_problems(): every expression parses as PromQL (promql-parser, the GreptimeTeam parser's
  Python binding), every alert has a severity, a summary and a runbook_url whose anchor is a
  heading of docs/OPERATIONS.md.
- dashboard_problems(): the dashboard is JSON Grafana can load, and every panel's query parses
  once Grafana's variables are put in.
Which metrics the expressions name is checked against a live server's /metrics by the
integration suite (tests/api/monitoring.rs).
"""

import json
import re

import promql_parser

DURATION = {"type": "string",
            "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"}
STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
RULE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["expr"],
    "oneOf": [{"required": ["alert"]}, {"required": ["record"]}],
    "properties": {
        "alert": {"type": "string"},
        "record": {"type": "string"},
        "expr": {"type": ["string", "integer"]},
        "for": DURATION,
        "keep_firing_for": DURATION,
        "labels": STRING_MAP,
        "annotations": STRING_MAP,
    },
}
PROMETHEUS_RULE_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "PrometheusRule"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 253},
                "namespace": {"type": "string"},
                "labels": STRING_MAP,
                "annotations": STRING_MAP,
            },
        },
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "groups": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["name"],
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "interval": DURATION,
                            "labels": STRING_MAP,
                            "limit": {"type": "integer"},
                            "partial_response_strategy": {"type": "string"},
                            "query_offset": DURATION,
                            "rules": {"type": "array", "items": RULE},
                        },
                    },
                },
            },
        },
    },
}

SEVERITIES = {"critical", "warning", "info"}


def anchors(markdown):
    """GitHub's anchors for the headings of a Markdown text."""
    out = set()
    for line in markdown.splitlines():
        m = re.match(r"^#{1,6}\s+(.*)$", line)
        if m:
            text = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower())
            out.add(text.replace(" ", "-"))
    return out


def parse_problem(expr):
    """Why `expr` is not PromQL, or None."""
    try:
        promql_parser.parse(expr)
        return None
    except ValueError as e:
        return str(e)


def rule_problems(groups, operations_md):
    """What is wrong with the rule groups (empty when nothing)."""
    problems = []
    headings = anchors(operations_md)
    names = set()
    for group in groups:
        for rule in group.get("rules", []):
            name = rule.get("alert") or rule.get("record")
            if name in names:
                problems.append(f"{name}: defined twice")
            names.add(name)
            why = parse_problem(str(rule["expr"]))
            if why:
                problems.append(f"{name}: the expression does not parse: {why}")
            if "alert" not in rule:
                continue
            if rule.get("labels", {}).get("severity") not in SEVERITIES:
                problems.append(f"{name}: severity must be one of {sorted(SEVERITIES)}")
            notes = rule.get("annotations", {})
            for key in ("summary", "description", "runbook_url"):
                if not notes.get(key):
                    problems.append(f"{name}: no {key} annotation")
            anchor = notes.get("runbook_url", "").rpartition("#")[2]
            if anchor not in headings:
                problems.append(f"{name}: runbook anchor #{anchor} is not a heading of docs/OPERATIONS.md")
    if not names:
        problems.append("no rules at all")
    return problems


def dashboard_problems(text):
    """What is wrong with the dashboard JSON (empty when nothing)."""
    try:
        board = json.loads(text)
    except json.JSONDecodeError as e:
        return [f"not JSON: {e}"]
    problems = []
    for key in ("title", "uid", "panels", "schemaVersion"):
        if key not in board:
            problems.append(f"no {key}")
    for panel in board.get("panels", []):
        for target in panel.get("targets", []):
            expr = target.get("expr", "")
            concrete = expr.replace("$__rate_interval", "5m").replace("$job", ".*")
            why = parse_problem(concrete)
            if why:
                problems.append(f"panel {panel.get('title')!r}: {why}: {expr}")
    if not board.get("panels"):
        problems.append("no panels")
    return problems
