#!/usr/bin/env python3
"""The CPU work of ``make test``'s steps, and the shortest time it allows on this machine.

    scripts/cpu_work.py FILE mark NAME [--new]   record the machine's busy CPU time now
    scripts/cpu_work.py FILE report              each step between two marks, and in all

A mark appends the wall time and the machine's busy and stolen CPU seconds (all processes,
containers and dockerd included: ``psutil.cpu_times()``, which reads ``/proc/stat``) to FILE,
one JSON object per line; ``--new`` starts FILE afresh. The report prints, per step, its
minutes, its busy CPU-minutes and the cores they kept busy on average: the lanes of
``make test`` are CPU-bound here, so no way of cutting them ends sooner than their CPU work
over this machine's cores, which the report prints as the floor.

Considered: ``time`` (it counts only the children ``make`` waits for, not dockerd, the test
hosts or the containers) and process accounting (``accton``: root, a package, a file to
clean up). Kept outside the checkout (``make test`` passes a path next to its log).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

import psutil


def sample(name: str) -> dict[str, Any]:
    """The machine's busy and stolen CPU seconds since boot, now."""
    cpu = psutil.cpu_times()
    # /proc/stat's fields (psutil names them on Linux); guest time is counted in user already.
    busy = cpu.user + cpu.nice + cpu.system + cpu.irq + cpu.softirq
    return {
        "name": name,
        "time": time.time(),
        "busy": busy,
        "steal": cpu.steal,
        "cores": psutil.cpu_count() or 1,
    }


def report(marks: list[dict[str, Any]]) -> list[str]:
    """One line per step between two marks, then one for all of them."""
    if len(marks) < 2:
        raise ValueError(f"a report needs two marks or more, not {len(marks)}")
    cores = marks[-1]["cores"]
    steps = [(end["name"], start, end) for start, end in itertools.pairwise(marks)]
    lines = []
    for name, start, end in [*steps, ("all", marks[0], marks[-1])]:
        wall = (end["time"] - start["time"]) / 60
        busy = (end["busy"] - start["busy"]) / 60
        steal = (end["steal"] - start["steal"]) / 60
        lines.append(
            f"cpu work, {name}: {wall:.1f} min, {busy:.1f} CPU-min busy "
            f"({busy / wall if wall else 0.0:.2f} of {cores} cores, {steal:.1f} stolen); "
            f"floor at {cores} cores: {busy / cores:.1f} min"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    commands = parser.add_subparsers(dest="command", required=True)
    mark = commands.add_parser("mark")
    mark.add_argument("name")
    mark.add_argument("--new", action="store_true")
    commands.add_parser("report")
    args = parser.parse_args(argv)
    if args.command == "mark":
        with args.file.open("w" if args.new else "a") as out:
            out.write(json.dumps(sample(args.name)) + "\n")
        return 0
    try:
        marks = [json.loads(line) for line in args.file.read_text().splitlines() if line]
        print("\n".join(report(marks)))
    except (OSError, ValueError) as error:
        print(f"cpu_work: {args.file}: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
