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
import minivid.models.dit
import minivid.models.wan
import minivid.presets

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


# ---- the package's layers ----------------------------------------------------------------------

# Each layer may import only from itself and the layers before it: DESIGN.md's order, with `data` after
# `sampling` (it depends on nothing in minivid but `files`; `training` and `evaluation` read it) and `viz`
# among the leaves (it depends on nothing in minivid; `evaluation` draws its frame grids with it).
LAYERS = [("config", "files", "viz", "exercises"), ("layers",), ("models",), ("diffusion",), ("presets",), ("interop",),
          ("sampling",), ("data",), ("training", "train"), ("evaluation",)]


def layer_of(module: str) -> int:
    top = module.split(".")[1] if module.count(".") else ""
    for rank, names in enumerate(LAYERS):
        if top in names:
            return rank
    raise AssertionError(f"{module} is in no layer of LAYERS: add it where it belongs")


def test_no_module_imports_from_a_later_layer():
    import ast

    upward = []
    for path in sorted((ROOT / "minivid").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        if module == "minivid":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            targets = ([node.module] if isinstance(node, ast.ImportFrom) and node.module else
                       [alias.name for alias in node.names] if isinstance(node, ast.Import) else [])
            for target in targets:
                if target.startswith("minivid.") and layer_of(target) > layer_of(module):
                    upward.append(f"{module} imports {target}")
    assert not upward, "imports that go up the layers:\n" + "\n".join(upward)


# ---- docs that say only what exists ---------------------------------------------------------------------

def load_script(name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_what_is_built_table_is_derived_from_the_code():
    whats_built = load_script("whats_built")
    table = whats_built.table()
    assert whats_built.readme_block((ROOT / "README.md").read_text()) == table, (
        "README.md's 'what is built' table is out of date: run `python scripts/whats_built.py --write`")
    families = minivid.presets.families()
    assert len(table.splitlines()) == 2 + len(families)
    for family, names in families.items():
        assert family in table
        for name in names:
            preset = minivid.presets.get(name)
            assert (f"`{name}`" in table) == (preset.expected_params is not None), name


def test_the_what_is_built_derivation_finds_a_strict_from_scratch_proof_and_nothing_else():
    whats_built = load_script("whats_built")
    proof = "ours = jitter(DiT(cfg))\nscratch.load_state_dict(ours.state_dict(), strict=True)\n"
    assert whats_built.proves_from_scratch(proof, minivid.models.dit.DiT)
    assert not whats_built.proves_from_scratch(proof.replace("strict=True", "strict=False"), minivid.models.dit.DiT)
    assert not whats_built.proves_from_scratch(proof, minivid.models.wan.WanModel)


def test_nothing_cites_the_private_desk():
    """The course stands alone: no `reference/*.md`, no private file names of the write-ups, no ../shared."""
    pattern = re.compile(r"reference/[a-z_]+\.md|\bseeds? 00[0-4]\b|\.\./shared|[\u4e00-\u9fff]", re.I)
    files = [p for folder in ("minivid", "notebooks", "tests", "scripts") for p in (ROOT / folder).rglob("*.py")]
    files += [ROOT / "README.md", ROOT / "data_samples" / "README.md", ROOT / "course.py"]
    found = [f"{p.relative_to(ROOT)}:{n}: {line.strip()[:80]}" for p in files
             for n, line in enumerate(p.read_text().splitlines(), 1)
             if pattern.search(line) and p.name != "test_project.py"]
    assert not found, "citations learners cannot follow:\n" + "\n".join(found)


# ---- exercises: real exercises, with hidden solutions that the tests run ---------------------------------

@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_exercises_have_a_self_check_and_hidden_solutions(path):
    """After '## Exercises': at least one cell a learner runs whose answer is checked (`check(`), and every
    worked solution in a cell tagged `solution` that JupyterLab shows collapsed (and nbval still runs)."""
    nb = jupytext.read(path)
    start = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and "## Exercises" in c.source)
    code = [c for c in nb.cells[start:] if c.cell_type == "code"]
    learner = [c for c in code if "solution" not in c.metadata.get("tags", [])]
    solutions = [c for c in code if "solution" in c.metadata.get("tags", [])]
    assert any(re.search(r"\bcheck\(", c.source) for c in learner), "no exercise checks the learner's answer"
    assert solutions, "no solution cell (tag `solution`)"
    for cell in solutions:
        assert cell.metadata.get("jupyter", {}).get("source_hidden") is True, "a solution cell is not collapsed"
        assert "hide-input" in cell.metadata.get("tags", []), "the book hides solutions by the `hide-input` tag"
        assert re.search(r"\b(check|assert|assert_close)\b", cell.source), "a solution that checks nothing can rot"
    for cell in learner:
        assert not re.match(r"#+ *(Solution|Solutions)", cell.source.strip(), re.I), "a visible solution cell"


# ---- honest run times ------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_run_time_header_states_the_measured_times(path):
    """The header line comes from notebooks/run_times.json (scripts/time_notebooks.py); conftest.py fails a
    CI-mode run that takes over twice its stated time + 20 s."""
    import json

    times = json.loads((ROOT / "notebooks" / "run_times.json").read_text())
    assert path.name in times and {"ci", "learner"} <= set(times[path.name]), (
        f"{path.name} was never timed: python scripts/time_notebooks.py {path.name[:2]}")
    expected = load_script("time_notebooks").header(times[path.name])
    assert expected in path.read_text().splitlines(), f"the header should read:\n{expected}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_slow_learner_cell_without_a_progress_bar_or_near_the_cell_limit(path):
    import json

    learner = json.loads((ROOT / "notebooks" / "run_times.json").read_text())[path.name]["learner"]
    # the cells' own times account for the run (all but the kernel's start-up), so they were really measured
    assert learner["in_cells"] > 0.6 * learner["seconds"] - 10, learner
    slowest = learner["slowest_cells"]
    code = [c for c in jupytext.read(path).cells if c.cell_type == "code"]
    for cell in slowest:
        assert cell["seconds"] < 150, f"cell {cell['cell']} takes {cell['seconds']} s, near nbval's 300 s limit"
        if cell["seconds"] > 60:
            source = code[cell["cell"]].source
            assert "tqdm" in source or "train_main" in source and "--no-progress" not in source, (
                f"cell {cell['cell']} takes {cell['seconds']} s in learner mode without a progress bar")


def test_instructors_guide_lists_the_measured_times():
    import json

    timing = load_script("time_notebooks")
    results = json.loads((ROOT / "notebooks" / "run_times.json").read_text())
    guide = (ROOT / "INSTRUCTORS.md").read_text()
    assert timing.times_table(results) in guide, "INSTRUCTORS.md's table is stale: python scripts/time_notebooks.py"
    assert timing.times_table(results).count("\n") == len(NOTEBOOKS) + 1
