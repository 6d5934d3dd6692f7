"""Suites, parts and result files: ``results/<suite>.json`` + ``.md`` and ``results/README.md``.

A suite is a named list of parts; each part measures (``run``), renders its section
(``render``), contributes rows to the suite's headline table (``headline``) and explains its
method (``notes``). Parts not selected in a run keep their previous results in the JSON.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.common import (
    RESULTS_DIR,
    SCHEMA_VERSION,
    BenchError,
    Context,
    host_facts,
    host_line,
    log,
    md_table,
    now_iso,
    read_json,
    write_atomic,
)

Result = dict[str, Any]


@dataclass(frozen=True)
class Part:
    """One measurement of a suite."""

    name: str
    title: str
    run: Callable[[Context], Result]
    render: Callable[[Result], str]
    headline: Callable[[Result], list[list[str]]] = lambda _result: []
    notes: Sequence[str] = ()


@dataclass(frozen=True)
class Suite:
    """A named group of parts written to ``results/<name>.json`` and ``.md``."""

    name: str
    title: str
    description: str
    parts: Sequence[Part] = field(default_factory=tuple)
    # False for suites that run in-process: the host facts then skip the Docker engine.
    uses_docker: bool = True
    # False for suites that need more than this host (molecule/site's swarm): run by --suite only.
    default: bool = True

    def part(self, name: str) -> Part | None:
        """The part called ``name``, if any."""
        return next((p for p in self.parts if p.name == name), None)


def json_path(suite: Suite) -> str:
    """File name of the suite's JSON results."""
    return f"{suite.name}.json"


def _load(suite: Suite) -> Result:
    data = read_json(RESULTS_DIR / json_path(suite))
    if data and data.get("schema_version") == SCHEMA_VERSION and data.get("suite") == suite.name:
        return data
    return {"suite": suite.name, "schema_version": SCHEMA_VERSION, "parts": {}}


def run_suite(ctx: Context, suite: Suite, parts: Sequence[Part]) -> list[str]:
    """Run ``parts`` of ``suite``, merge into its JSON, rewrite its reports; return errors."""
    data = _load(suite)
    host = host_facts(ctx, docker=suite.uses_docker)
    errors: list[str] = []
    for part in parts:
        log(f"{suite.name}/{part.name}: {part.title}")
        started = time.perf_counter()
        measured_at = now_iso()
        load_before = os.getloadavg()[0]
        try:
            result = part.run(ctx)
        except BenchError as exc:
            errors.append(f"{suite.name}/{part.name}: {exc}")
            log(f"{suite.name}/{part.name} FAILED: {exc}")
            continue
        duration = time.perf_counter() - started
        data["parts"][part.name] = {
            "title": part.title,
            "measured_at": measured_at,
            "duration_s": round(duration, 1),
            "load_avg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "host": host,
            "result": result,
        }
        log(f"{suite.name}/{part.name}: done in {duration:.0f} s")
        write_suite(suite, data, host)  # after each part, so an interrupted run keeps it
    return errors


def write_suite(suite: Suite, data: Result, host: dict[str, Any]) -> None:
    """Write the suite's JSON and Markdown (and refresh the index)."""
    data["generated_at"] = now_iso()
    data["host"] = host
    write_atomic(RESULTS_DIR / json_path(suite), json.dumps(data, indent=1, sort_keys=False) + "\n")
    write_atomic(RESULTS_DIR / f"{suite.name}.md", render_suite(suite, data))


def render_suite(suite: Suite, data: Result) -> str:
    """The suite's Markdown report from its JSON data."""
    done = [(p, data["parts"][p.name]) for p in suite.parts if p.name in data["parts"]]
    lines = [f"# {suite.title}", "", suite.description, ""]
    lines.append(f"Report generated {data['generated_at']} (UTC) by `python -m bench`.")
    lines.append(f"Host: {host_line(data['host'])}.")
    lines.append("")
    measured = ", ".join(f"{p.name} {entry['measured_at']}" for p, entry in done)
    lines.append(f"Measured (UTC): {measured or 'nothing yet'}.")
    hosts = {host_line(entry["host"]) for _p, entry in done}
    if len(hosts) > 1:
        lines.append("Parts were measured on different hosts: " + "; ".join(sorted(hosts)) + ".")
    lines.append("")
    headline = [row for p, entry in done for row in p.headline(entry["result"])]
    if headline:
        lines += [
            "## Summary",
            "",
            md_table(["metric", "ours", "reference", "ratio"], headline),
            "",
        ]
    for part, entry in done:
        lines += [
            f"## {part.title}",
            "",
            f"Measured {entry['measured_at']} in {entry['duration_s']:.0f} s{_load_note(entry)}.",
            "",
            part.render(entry["result"]),
            "",
        ]
    notes = [(p, p.notes) for p, _entry in done if p.notes]
    if notes:
        lines += ["## Method", ""]
        for part, part_notes in notes:
            lines += [f"{part.title}:", ""]
            lines += [f"- {note}" for note in part_notes]
            lines.append("")
    lines.append(f"Raw samples and summaries: [`{json_path(suite)}`]({json_path(suite)}).")
    return "\n".join(lines) + "\n"


def _load_note(entry: Result) -> str:
    load = entry.get("load_avg_1m")
    if not load:
        return ""
    return f" (host load average, 1 min: {load[0]:.2f} before, {load[1]:.2f} after)"


def write_index(suites: Sequence[Suite]) -> None:
    """``results/README.md``: one row per suite with its reports and when it was measured."""
    rows = []
    for suite in suites:
        data = read_json(RESULTS_DIR / json_path(suite))
        if data is None:
            rows.append([suite.title, "not run yet", "", ""])
            continue
        parts = ", ".join(
            f"{name} ({entry.get('measured_at', '?')})" for name, entry in data["parts"].items()
        )
        rows.append(
            [
                suite.title,
                f"[{suite.name}.md]({suite.name}.md), [{json_path(suite)}]({json_path(suite)})",
                parts,
                suite.description,
            ]
        )
    text = "\n".join(
        [
            "# Benchmark results",
            "",
            "Written by `make bench` (`python -m bench`, see `bench/`); every suite has a Markdown",
            "report and a JSON file with the raw samples. Re-run one part with",
            "`python -m bench --only <part>`; `python -m bench --list` lists suites and parts.",
            "",
            md_table(["suite", "reports", "parts (measured, UTC)", "what"], rows),
            "",
        ]
    )
    write_atomic(RESULTS_DIR / "README.md", text)
