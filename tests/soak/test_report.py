"""RELIABILITY.md holds the last full single-node run and, in its last section, the last
full run with several web nodes: each run rewrites its own part and keeps the other."""

import json

import pytest

from soak import report


@pytest.fixture
def reliability(tmp_path, monkeypatch):
    path = tmp_path / "RELIABILITY.md"
    monkeypatch.setattr(report, "RELIABILITY", path)
    # The documents' figures are not what is tested here: each part names its run.
    monkeypatch.setattr(report, "markdown", lambda d: f"# Reliability\n\nsingle {d['run']}\n")
    monkeypatch.setattr(
        report, "nodes_markdown", lambda d: f"{report.NODES_HEADING}\n\nnodes {d['run']}\n"
    )
    return path


def _run(run: str, nodes: int) -> dict:
    return {"run": run, "settings": {"nodes": nodes}}


def test_each_kind_of_run_rewrites_its_own_part_of_reliability_md(reliability, tmp_path):
    report.write(_run("A", 1), json_path=None, reliability=True)
    assert reliability.read_text() == "# Reliability\n\nsingle A\n"

    report.write(_run("B", 2), json_path=None, reliability=True)
    report.write(_run("C", 2), json_path=None, reliability=True)
    assert reliability.read_text() == (
        f"# Reliability\n\nsingle A\n\n{report.NODES_HEADING}\n\nnodes C\n"
    )

    report.write(_run("D", 1), json_path=tmp_path / "latest.json", reliability=True)
    assert reliability.read_text() == (
        f"# Reliability\n\nsingle D\n\n{report.NODES_HEADING}\n\nnodes C\n"
    )
    assert json.loads((tmp_path / "latest.json").read_text())["run"] == "D"


def test_a_short_run_leaves_reliability_md_alone(reliability):
    reliability.write_text("kept\n")

    report.write(_run("E", 2), json_path=None, reliability=False)

    assert reliability.read_text() == "kept\n"


def test_runs_with_several_nodes_have_results_of_their_own():
    assert report.results_path(nodes=1) == report.RESULTS / "latest.json"
    assert report.results_path(nodes=2) == report.RESULTS / "nodes2.json"
