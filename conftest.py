"""Hand the jupytext notebooks in notebooks/ to nbval.

nbval only collects `.ipynb` files, and pytest would otherwise *import* `notebooks/NN_name.py` as
a module. Here each `notebooks/NN_*.py` is read with jupytext and collected by nbval's own file
collector: one pytest item per code cell, one kernel per notebook, the kernel started in
notebooks/ exactly as JupyterLab does for a learner.
"""
from __future__ import annotations

import re
from collections import defaultdict

import pytest

NOTEBOOK_NAME = re.compile(r"^\d\d_\w+\.py$")


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

    @pytest.hookimpl(tryfirst=True)
    def pytest_pycollect_makemodule(module_path, parent):
        if is_notebook(module_path):
            return JupytextNotebook.from_parent(parent, path=module_path)
