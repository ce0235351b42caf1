"""Measure every notebook's run time in CI mode and in learner mode, and keep the headers true.

    python scripts/time_notebooks.py                      # both modes, every notebook (~15 minutes)
    python scripts/time_notebooks.py --mode ci 04 11      # some notebooks, one mode

Each notebook runs top to bottom in a fresh kernel started in notebooks/ (as JupyterLab and nbval do),
with MINIVID_FAST=1 (CI mode) or 0 (learner mode); every cell is timed. The results go to
notebooks/run_times.json (per notebook and mode: total seconds and the slowest cells); each
notebook's header line `**Run time:** ...` and the table in INSTRUCTORS.md are rewritten from them. tests/test_project.py checks that the
headers and the JSON agree, that no learner-mode cell takes over 60 s without a progress bar or comes
near nbval's 300 s cell limit, and (conftest.py) that each CI-mode run stays within the stated margin.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

import jupytext
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
RESULTS = ROOT / "notebooks" / "run_times.json"
HEADER = re.compile(r"^# \*\*Run time:\*\*.*$", re.M)
MACHINE = "a 2-core CPU"
GUIDE = ROOT / "INSTRUCTORS.md"
TABLE = re.compile(r"(<!-- run-times: begin \(scripts/time_notebooks.py\) -->\n).*?(<!-- run-times: end -->)", re.S)


def duration(seconds: float) -> str:
    """'12 s', '50 s', '3 min': rounded up to a step a reader can trust."""
    if seconds < 60:
        return f"{max(5, -(-seconds // 5) * 5):.0f} s"
    return f"{-(-seconds // 60):.0f} min"


def header(times: dict) -> str:
    return (f"# **Run time:** CI mode ≈ {duration(times['ci']['seconds'])}, learner mode ≈ "
            f"{duration(times['learner']['seconds'])} on {MACHINE} (measured by `scripts/time_notebooks.py`).")


def time_notebook(path: Path, fast: bool, timeout: int = 900) -> dict:
    """Run one notebook in a fresh kernel; total seconds and per-cell seconds (code cells, in order)."""
    nb = jupytext.read(path)
    cells, starts = [], {}

    def start(cell, cell_index, **_):
        starts[cell_index] = time.perf_counter()

    def executed(cell, cell_index, **_):  # after the kernel's reply (`on_cell_complete` fires at sending)
        cells.append({"cell": len(cells), "seconds": round(time.perf_counter() - starts[cell_index], 2),
                      "first_line": cell.source.splitlines()[0][:80] if cell.source else ""})

    os.environ["MINIVID_FAST"] = "1" if fast else "0"
    os.environ.pop("MPLBACKEND", None)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}},
                            on_cell_start=start, on_cell_executed=executed)
    began = time.perf_counter()
    client.execute()
    return {"seconds": round(time.perf_counter() - began, 1), "cells": cells}


def times_table(results: dict) -> str:
    """The per-notebook table of INSTRUCTORS.md."""
    lines = ["| notebook | CI mode | learner mode | slowest learner-mode cell |", "|---|---|---|---|"]
    for path in NOTEBOOKS:
        times = results.get(path.name, {})
        if {"ci", "learner"} <= set(times):
            slowest = times["learner"]["slowest_cells"][0]["seconds"]
            lines.append(f"| [{path.name}](notebooks/{path.name}) | {times['ci']['seconds']:.0f} s | "
                         f"{times['learner']['seconds']:.0f} s | {slowest:.0f} s |")
    return "\n".join(lines)


def rewrite_guide(results: dict) -> None:
    text = GUIDE.read_text()
    if not TABLE.search(text):
        raise ValueError(f"{GUIDE.name} has no run-times markers to fill")
    GUIDE.write_text(TABLE.sub(lambda m: m.group(1) + times_table(results) + "\n" + m.group(2), text))


def rewrite_header(path: Path, times: dict) -> None:
    text = path.read_text()
    if not HEADER.search(text):
        raise ValueError(f"{path.name} has no line starting with '# **Run time:**' to rewrite")
    path.write_text(HEADER.sub(header(times), text, count=1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="notebook numbers (default: all)")
    parser.add_argument("--mode", choices=["ci", "learner", "both"], default="both")
    args = parser.parse_args(argv)
    chosen = [p for p in NOTEBOOKS if not args.notebooks or p.name[:2] in args.notebooks]
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    modes = ["ci", "learner"] if args.mode == "both" else [args.mode]
    for path in chosen:
        for mode in modes:
            measured = time_notebook(path, fast=mode == "ci")
            slowest = sorted(measured["cells"], key=lambda c: -c["seconds"])[:3]
            in_cells = round(sum(c["seconds"] for c in measured["cells"]), 1)  # the rest: kernel start-up
            results.setdefault(path.name, {})[mode] = {"seconds": measured["seconds"], "in_cells": in_cells,
                                                       "slowest_cells": slowest}
            print(f"{path.name:34} {mode:8} {measured['seconds']:7.1f} s   slowest cell "
                  f"{slowest[0]['seconds']:.1f} s", flush=True)
            RESULTS.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
        if {"ci", "learner"} <= set(results[path.name]):
            rewrite_header(path, results[path.name])
    rewrite_guide(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
