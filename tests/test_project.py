"""The project's own promises: one dependency list, notebooks in the agreed shape, README in sync."""
from __future__ import annotations

import re
import shutil
import tomllib
from pathlib import Path

import jupytext
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

import minivid

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def normalised(lines) -> set[tuple]:
    out = set()
    for line in lines:
        req = Requirement(line)
        out.add((req.name.lower().replace("_", "-"), str(req.specifier), tuple(sorted(req.extras)), str(req.marker)))
    return out


def test_environment_yml_mirrors_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    pip_sections = [d for d in deps if isinstance(d, dict) and "pip" in d]
    assert "pip" in deps and len(pip_sections) == 1, "environment.yml needs `pip` and exactly one `pip:` list"
    python = next(d for d in deps if isinstance(d, str) and d.startswith("python="))
    requires = SpecifierSet(pyproject()["project"]["requires-python"])
    assert python.split("=", 1)[1] + ".0" in requires, f"{python} does not satisfy requires-python {requires}"
    pip_lines = pip_sections[0]["pip"]
    options = [line for line in pip_lines if line.startswith("-")]
    assert options == ["-e ."], "the only pip option line should be `-e .` (install minivid itself)"
    project = pyproject()["project"]
    expected = project["dependencies"] + project["optional-dependencies"]["notebooks"]
    got = [line for line in pip_lines if not line.startswith("-")]
    assert normalised(got) == normalised(expected), (
        "environment.yml and pyproject.toml (dependencies + notebooks extra) disagree:\n"
        f"only in environment.yml: {normalised(got) - normalised(expected)}\n"
        f"only in pyproject.toml: {normalised(expected) - normalised(got)}")


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "python3 course.py test" in readme and "python3 course.py lab" in readme
    assert re.search(r"^exec python3 course\.py test$", ci, re.M), ".ci/run must run the README's test command"


@pytest.mark.parametrize("variable,value,expected", [
    ({}, None, False), ({"CI": "true"}, None, True), ({"CI": "true", "MINIVID_FAST": "0"}, None, False),
    ({"MINIVID_FAST": "1"}, None, True), ({"CI": "false"}, None, False)])
def test_fast_mode_switch(monkeypatch, variable, value, expected):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("MINIVID_FAST", raising=False)
    for key, val in variable.items():
        monkeypatch.setenv(key, val)
    assert minivid.fast_mode() is expected


# ---- notebooks -------------------------------------------------------------------------------

def test_there_are_notebooks_and_names_are_ordered():
    assert NOTEBOOKS, "no notebooks found"
    numbers = [int(p.name[:2]) for p in NOTEBOOKS]
    assert len(numbers) == len(set(numbers)), "two notebooks share a number"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_shape(path):
    """Every notebook follows DESIGN.md: a title, a `parameters` cell first, and the closing sections."""
    nb = jupytext.read(path)
    code = [c for c in nb.cells if c.cell_type == "code"]
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# "), "first cell: a title"
    assert "parameters" in code[0].metadata.get("tags", []), "first code cell must be tagged `parameters`"
    assert "fast_mode()" in code[0].source, "the parameters cell reads minivid.fast_mode()"
    for heading in ("## Summary", "## Check yourself", "## Exercises"):
        assert heading in markdown, f"missing section {heading!r}"
    for cell in code:
        assert "NBVAL_SKIP" not in cell.source and "nbval-skip" not in cell.metadata.get("tags", []), (
            "a skipped cell is a cell nobody tests")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_saving_in_jupyterlab_leaves_the_file_unchanged(path, tmp_path):
    """JupyterLab saves through jupytext's contents manager; headers must not churn on save."""
    from jupyter_server.services.contents.largefilemanager import LargeFileManager
    from jupytext.sync_contentsmanager import build_sync_jupytext_contents_manager_class

    shutil.copy(ROOT / "jupytext.toml", tmp_path / "jupytext.toml")
    (tmp_path / "notebooks").mkdir()
    shutil.copy(path, tmp_path / "notebooks" / path.name)
    manager = build_sync_jupytext_contents_manager_class(LargeFileManager)(root_dir=str(tmp_path))
    relative = f"notebooks/{path.name}"
    manager.save(manager.get(relative, content=True, type="notebook"), relative)
    assert (tmp_path / relative).read_text() == path.read_text()


def test_readme_lists_every_notebook():
    readme = (ROOT / "README.md").read_text()
    listed = re.findall(r"\[`(\d\d_\w+\.py)`\]", readme)
    assert listed == [p.name for p in NOTEBOOKS], (
        "README's notebook list is out of date; it should list, in order: " + ", ".join(p.name for p in NOTEBOOKS))
