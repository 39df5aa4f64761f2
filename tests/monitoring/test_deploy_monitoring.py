"""deploy/: the Grafana dashboard and the Prometheus rules read only metrics the app exports,
are well formed, and the alerts fire when they should (promtool, from Debian's `prometheus`).

A metric renamed in monitoring/metrics.py fails here until the dashboard and the rules
follow it.
"""

import json
import os
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from monitoring.models import Alert
from reservations.models import ReleaseRun

ROOT = Path(__file__).resolve().parent.parent.parent
DASHBOARD = ROOT / "deploy" / "grafana" / "stockhold.json"
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
DATASOURCE_UID = "${datasource}"
# Series Prometheus makes itself for every target.
PROMETHEUS_SERIES = {"up"}
# PromQL words that look like metric names: operators, modifiers and constants.
_KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "offset", "inf", "nan", "start", "end",
}
_LABEL_LISTS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")


def promql_metric_names(expr: str) -> set[str]:
    """The metric names an expression reads: identifiers that are not functions, keywords,
    label names, label values, durations or Grafana variables."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries: durations, $__rate_interval
    text = _LABEL_LISTS.sub(" ", text)
    names = set()
    for match in re.finditer(r"(?<![\w:.$])([A-Za-z_:][A-Za-z0-9_:]*)\s*(\()?", text):
        word, call = match.groups()
        if not call and word.lower() not in _KEYWORDS:
            names.add(word)
    return names


def _dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def _panels(dashboard: dict) -> list[dict]:
    """Every panel, those inside collapsed rows included."""
    panels = []
    for panel in dashboard["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return panels


def _dashboard_exprs() -> dict[str, str]:
    """{"panel <id> <refId>": expr} of every query of the dashboard."""
    return {
        f"panel {panel['id']} {target['refId']}": target["expr"]
        for panel in _panels(_dashboard())
        for target in panel.get("targets", [])
    }


def _rules() -> list[dict]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _rule_exprs() -> dict[str, str]:
    return {rule["alert"]: rule["expr"] for rule in _rules()}


def _exported_sample_names(client) -> set[str]:
    """Sample names of a /metrics scrape of the app, with every family carrying a sample:
    one request answered, a release run succeeded, an alert delivered."""
    now = timezone.now()
    ReleaseRun.objects.create(
        started_at=now - timedelta(seconds=2), finished_at=now, status=ReleaseRun.Status.SUCCEEDED
    )
    Alert.objects.create(key="reservation_backlog", title="t", created_at=now, delivered=True)
    assert client.get("/api/v1/health/live/").status_code == 200

    response = client.get("/metrics")
    assert response.status_code == 200
    return {
        sample.name
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


# --- What the expressions read ------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            'sum by (status) (rate(a_total{status=~"5.."}[$__rate_interval])) / ignoring(x) b',
            {"a_total", "b"},
        ),
        ("histogram_quantile(0.95, sum(rate(c_bucket[5m])) by (le, route)) > 1e3", {"c_bucket"}),
        ('absent(d) or max(e offset 5m) > bool 2 unless on() up{job="x"} == 0', {"d", "e", "up"}),
    ],
)
def test_the_expression_reader_finds_the_metric_names(expr, names):
    assert promql_metric_names(expr) == names


@pytest.mark.django_db
def test_every_metric_the_dashboard_and_the_rules_read_is_exported(client):
    exported = _exported_sample_names(client) | PROMETHEUS_SERIES
    queries = {**_dashboard_exprs(), **_rule_exprs()}

    unknown = {
        where: sorted(promql_metric_names(expr) - exported)
        for where, expr in queries.items()
        if promql_metric_names(expr) - exported
    }

    assert unknown == {}
    assert all(promql_metric_names(expr) for expr in queries.values())


@pytest.mark.django_db
def test_the_dashboard_shows_every_exported_metric(client):
    def family(sample_name: str) -> str:
        return re.sub(r"_(total|created|bucket|count|sum)$", "", sample_name)

    exported = {family(name) for name in _exported_sample_names(client)}
    shown = {family(name) for expr in _dashboard_exprs().values()
             for name in promql_metric_names(expr)}

    assert exported - shown == set()


def test_rules_and_dashboard_name_the_scrape_job_of_the_example_config():
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    queries = [*_dashboard_exprs().values(), *_rule_exprs().values()]

    named = {job for expr in queries for job in re.findall(r'\bjob="([^"]*)"', expr)}

    assert named and named <= jobs
    rule_files = [(PROMETHEUS_CONFIG.parent / name).resolve() for name in config["rule_files"]]
    assert rule_files == [RULES]


# --- The dashboard's structure -------------------------------------------------------------


def test_the_dashboard_asks_for_its_prometheus_data_source():
    dashboard = _dashboard()

    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert "__inputs" not in dashboard  # nothing to map on import
    assert (dashboard["uid"], dashboard["title"]) == ("stockhold", "stockhold")


def test_every_panel_queries_the_data_source_variable_with_unique_ids():
    panels = _panels(_dashboard())

    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    for panel in panels:
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"}, panel["title"]
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": DATASOURCE_UID}, panel["title"]
        targets = panel["targets"]
        assert targets, panel["title"]
        assert len({t["refId"] for t in targets}) == len(targets), panel["title"]
        for target in targets:
            assert target["expr"].strip(), panel["title"]
            assert target["datasource"]["uid"] == DATASOURCE_UID, panel["title"]


def test_the_dashboard_covers_what_operators_look_at():
    titles = {panel["title"] for panel in _panels(_dashboard())}

    assert {
        "Expired backlog", "Held units and active holds", "Release run age",
        "Release runs and failures per 15 min", "Requests per second by status",
        "5xx responses", "Latency", "Webhook deliveries", "Alerts sent per hour by key",
    } <= titles


# --- promtool ---------------------------------------------------------------------------------


def _install_promtool() -> None:
    """Install Debian's `prometheus` package, which holds promtool; fail, never skip."""
    if not shutil.which("apt-get"):
        pytest.fail(
            "promtool is not on PATH and this machine has no apt-get to install it: install "
            "promtool (Debian/Ubuntu: apt-get install prometheus; elsewhere the release "
            "archive from https://prometheus.io/download/) or set PROMTOOL to its path"
        )
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [*sudo, "apt-get", "install", "-y", "--no-install-recommends", "prometheus"]
    for attempt in ([install], [[*sudo, "apt-get", "update"], install]):
        output = ""
        for command in attempt:
            result = subprocess.run(  # noqa: S603 - fixed arguments
                command, env=env, capture_output=True, text=True, timeout=900
            )
            output += result.stdout + result.stderr
            if result.returncode != 0:
                break
        else:
            return
    pytest.fail(
        f"promtool is not on PATH and `{' '.join(install)}` failed; install it (or set "
        f"PROMTOOL to its path):\n{output[-2000:]}"
    )


@pytest.fixture(scope="session")
def promtool() -> str:
    path = os.environ.get("PROMTOOL") or shutil.which("promtool")
    if not path:
        _install_promtool()
        path = shutil.which("promtool")
    if not path:
        pytest.fail("the `prometheus` package is installed but promtool is not on PATH")
    return path


def _promtool(promtool: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - the checker with our own files
        [promtool, *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
def test_promtool_accepts_the_rules_and_the_example_config(promtool):
    rules = _promtool(promtool, "check", "rules", str(RULES))
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in rules.stdout

    config = _promtool(promtool, "check", "config", str(PROMETHEUS_CONFIG))
    assert config.returncode == 0, config.stdout + config.stderr


@pytest.mark.slow
def test_promtool_parses_every_dashboard_query(promtool, tmp_path):
    # Each query as a recording rule, so that promtool's PromQL parser reads it; Grafana's
    # own interval variable becomes a duration.
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:{where.replace(' ', '_')}",
         "expr": expr.replace("$__rate_interval", "1m")}
        for where, expr in _dashboard_exprs().items()
    ]}]}
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump(rules))

    result = _promtool(promtool, "check", "rules", str(path))

    assert result.returncode == 0, result.stdout + result.stderr


def _series(name: str, values: str, **labels: str) -> dict:
    labels = {"job": "stockhold", "instance": "web:8000", **labels}
    matchers = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    return {"series": f"{name}{{{matchers}}}", "values": values}


def _expect(alertname: str, eval_time: str, *alerts: dict) -> dict:
    return {
        "alertname": alertname,
        "eval_time": eval_time,
        "exp_alerts": [{"exp_labels": labels} for labels in alerts],
    }


@pytest.mark.slow
def test_the_alerts_fire_on_trouble_and_stay_quiet_otherwise(promtool, tmp_path):
    # Annotations are checked by `promtool check rules` above; the unit tests compare labels.
    document = yaml.safe_load(RULES.read_text())
    for group in document["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    rules = tmp_path / "alerts.yml"
    rules.write_text(yaml.safe_dump(document))

    healthy = [
        _series("up", "1x20"),
        _series("stockhold_metrics_scrape_error", "0x20"),
        _series("stockhold_expired_backlog_holds", "50x20"),
        _series("stockhold_expired_backlog_orders", "0x20"),
        _series("stockhold_release_seconds_since_success", "30x20"),
        # 5xx at one a minute: over 5 % of the requests, but too few to page anyone.
        _series("stockhold_http_requests_total", "0+60x20", status="200", method="GET",
                route="product-list"),
        _series("stockhold_http_requests_total", "0+1x20", status="500", method="GET",
                route="product-list"),
        _series("stockhold_webhook_deliveries_pending", "10x20"),
        _series("stockhold_webhook_deliveries_failed", "0x20"),
    ]
    trouble = [
        _series("up", "0x20"),
        _series("stockhold_metrics_scrape_error", "1x20"),
        _series("stockhold_expired_backlog_holds", "0x20"),
        _series("stockhold_expired_backlog_orders", "150x20"),
        # One more minute without a success at every minute: past 180 s from minute 3.
        _series("stockhold_release_seconds_since_success", "30+60x20"),
        # 1 server error a second out of 11 requests.
        _series("stockhold_http_requests_total", "0+600x20", status="200", method="GET",
                route="product-list"),
        _series("stockhold_http_requests_total", "0+60x20", status="500", method="PUT",
                route="cart-item"),
        _series("stockhold_webhook_deliveries_pending", "2000x20"),
        _series("stockhold_webhook_deliveries_failed", "3x20"),
    ]
    alertnames = [rule["alert"] for rule in _rules()]
    tests = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": healthy,
                "alert_rule_test": [_expect(name, "20m") for name in alertnames],
            },
            {
                "interval": "1m",
                "input_series": trouble,
                "alert_rule_test": [
                    _expect("StockholdScrapeFailed", "5m",
                            {"severity": "critical", "job": "stockhold", "instance": "web:8000"}),
                    _expect("StockholdMetricsDatabaseError", "5m", {"severity": "critical"}),
                    _expect("StockholdExpiredBacklog", "4m"),
                    _expect("StockholdExpiredBacklog", "5m", {"severity": "warning"}),
                    _expect("StockholdReleaseStale", "4m"),
                    _expect("StockholdReleaseStale", "5m", {"severity": "error"}),
                    _expect("StockholdHigh5xxRate", "10m", {"severity": "error"}),
                    _expect("StockholdWebhookDeliveriesFailed", "5m", {"severity": "warning"}),
                    _expect("StockholdWebhookDeliveriesPilingUp", "14m"),
                    _expect("StockholdWebhookDeliveriesPilingUp", "15m", {"severity": "warning"}),
                ],
            },
            {
                # Scraped, but no release has ever succeeded: the gauge is absent.
                "interval": "1m",
                "input_series": [_series("up", "1x10"),
                                 _series("stockhold_metrics_scrape_error", "0x10")],
                "alert_rule_test": [
                    _expect("StockholdReleaseStale", "1m"),
                    _expect("StockholdReleaseStale", "2m", {"severity": "error"}),
                ],
            },
        ],
    }
    path = tmp_path / "alerts_test.yml"
    path.write_text(yaml.safe_dump(tests, sort_keys=False))

    result = _promtool(promtool, "test", "rules", str(path))

    assert result.returncode == 0, result.stdout + result.stderr
