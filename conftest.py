"""Hand the jupytext notebooks in notebooks/ to nbval, and keep their stated CI-mode run times true.

nbval only collects `.ipynb` files, and pytest would otherwise *import* `notebooks/NN_name.py` as
a module. Here each `notebooks/NN_*.py` is read with jupytext and collected by nbval's own file
collector: one pytest item per code cell, one kernel per notebook, the kernel started in
notebooks/ exactly as JupyterLab does for a learner. In CI mode one more item follows the cells,
"run time", which fails when the cells took longer than RUN_TIME_MARGIN allows over the CI-mode time
in notebooks/run_times.json (measured by scripts/time_notebooks.py, stated in the notebook's header).
"""
from __future__ import annotations

import json
import os
import re
import time
from collections import defaultdict
from pathlib import Path

import pytest

NOTEBOOK_NAME = re.compile(r"^\d\d_\w+\.py$")
RUN_TIMES = Path(__file__).parent / "notebooks" / "run_times.json"


def allowed_seconds(stated: float) -> float:
    """RUN_TIME_MARGIN: twice the measured CI-mode time plus 20 s (slower machines, a busy CI runner)."""
    return 2 * stated + 20


def is_notebook(path) -> bool:
    return path.parent.name == "notebooks" and NOTEBOOK_NAME.match(path.name) is not None


try:
    import jupytext
    from nbval.plugin import IPyNbCell, IPyNbFile, find_comment_markers, find_metadata_tags
except ImportError:  # the notebook extras are not installed: unit tests still run
    jupytext = None


if jupytext is not None:

    class JupytextNotebook(IPyNbFile):
        """nbval's notebook collector, reading the jupytext `.py` source instead of an `.ipynb`."""

        def collect(self):
            self.nb = jupytext.read(str(self.path))
            code_cells = [cell for cell in self.nb.cells if cell.cell_type == "code"]
            for number, cell in enumerate(code_cells):
                options = defaultdict(bool, find_metadata_tags(cell.metadata))
                options.update(dict(find_comment_markers(cell.source)))
                options.setdefault("check", self.compare_outputs)
                yield IPyNbCell.from_parent(self, name=f"Cell {number}", cell_num=number,
                                            cell=cell, options=options)
            if os.environ.get("MINIVID_FAST", "").strip().lower() in ("1", "true", "yes", "on"):
                yield RunTime.from_parent(self, name="run time")

    class RunTime(pytest.Item):
        """Fails when this notebook's cells, just run in CI mode, took longer than its stated time allows."""

        def runtest(self):
            started = getattr(self.parent, "started", None)
            if started is None:
                pytest.skip("the notebook's cells did not run in this session (a subset was selected)")
            elapsed = time.perf_counter() - started
            times = json.loads(RUN_TIMES.read_text()) if RUN_TIMES.exists() else {}
            if "ci" not in times.get(self.path.name, {}):
                raise AssertionError(f"{self.path.name} has no measured CI-mode time in {RUN_TIMES.name}: "
                                     "run `python scripts/time_notebooks.py NN`")
            stated = times[self.path.name]["ci"]["seconds"]
            assert elapsed <= allowed_seconds(stated), (
                f"{self.path.name} took {elapsed:.0f} s in CI mode; it states {stated:.0f} s (allowed: "
                f"{allowed_seconds(stated):.0f} s). Make it faster or re-measure: python scripts/time_notebooks.py")

        def reportinfo(self):
            return self.path, None, f"{self.path.name}: run time"

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(item):
        if isinstance(item, IPyNbCell) and item.cell_num == 0:
            item.parent.started = time.perf_counter()

    @pytest.hookimpl(tryfirst=True)
    def pytest_pycollect_makemodule(module_path, parent):
        if is_notebook(module_path):
            return JupytextNotebook.from_parent(parent, path=module_path)
