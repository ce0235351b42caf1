"""The README's "what is built" table, derived from the code so that it cannot drift as systems land.

    python scripts/whats_built.py            # print the table
    python scripts/whats_built.py --write    # put it into README.md (between the what-is-built markers)

One row per system (a `family` of `minivid.presets`); each column is found, not declared:
- notebook: notebooks that import the system's model class or build one of its presets by name;
- from-scratch proof: notebooks that load a minivid model of that class into their own module with
  `load_state_dict(model.state_dict(), strict=True)` (and then compare outputs);
- diffusers parity: test files that import diffusers and the system's converter (`minivid.interop`);
- full-size presets: presets with an official parameter count (checked exactly in the tests);
- tiny trained checkpoint: a training task whose shipped weights are in data_samples/ and whose model
  contains the class.
`tests/test_project.py` fails when README.md and this table disagree.
"""
from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

import torch

from minivid import presets
from minivid.training import tasks

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- what-is-built: begin (scripts/whats_built.py --write) -->", "<!-- what-is-built: end -->"
STRICT_LOAD = re.compile(r"\b\w+\.load_state_dict\(\s*(\w+)\.state_dict\(\),\s*strict=True\)")


def model_class(preset_names: list[str]) -> type:
    classes = {type(presets.build(name)) for name in preset_names}
    if len(classes) != 1:
        raise ValueError(f"presets {preset_names} of one family build different classes {classes}")
    return classes.pop()


def imported_names(source: str, prefix: str) -> set[str]:
    """Names a file imports from modules starting with `prefix` (e.g. 'minivid.models.')."""
    return {alias.name for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(prefix)
            for alias in node.names}


def imported_modules(source: str) -> set[str]:
    """Every module a file imports: `import a.b`, `from a.b import c` (a.b, and a.b.c if c is a module)."""
    modules = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return modules


def proves_from_scratch(source: str, cls: type) -> bool:
    """A minivid `cls` whose state dict a scratch module loads with strict=True."""
    for variable in STRICT_LOAD.findall(source):
        assignments = re.findall(rf"^\s*{variable}\s*=\s*(.+)$", source, re.M)
        if any(re.search(rf"\b{cls.__name__}\(", rhs) for rhs in assignments):
            return True
    return False


def converter_module(cls: type) -> str | None:
    for path in sorted((ROOT / "minivid" / "interop").glob("*.py")):
        source = path.read_text()
        if "DIFFUSERS_CLASS" in source and cls.__name__ in imported_names(source, "minivid.models."):
            return f"minivid.interop.{path.stem}"
    return None


def row(family: str, names: list[str]) -> dict[str, str]:
    cls = model_class(names)
    notebooks, proofs = [], []
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")):
        source = path.read_text()
        uses = cls.__name__ in imported_names(source, "minivid.models.") or any(f'"{n}"' in source for n in names)
        if uses:
            notebooks.append(path.name)
        if uses and proves_from_scratch(source, cls):
            proofs.append(path.name)
    converter = converter_module(cls)
    parity = []
    if converter:
        for path in sorted((ROOT / "tests").glob("test_*.py")):
            source = path.read_text()
            uses_peer = re.search(r"^(import diffusers|from diffusers|.*importorskip\(\"diffusers\"\))", source, re.M)
            if uses_peer and converter in imported_modules(source):
                parity.append(path.name)
    full = [presets.get(n) for n in names if presets.get(n).expected_params]
    checkpoints = []
    for task in map(tasks.get_task, tasks.task_names()):
        if task.shipped is not None and task.shipped.exists():
            with torch.device("meta"):
                model = task.build_model()
            if any(isinstance(module, cls) for module in model.modules()):
                checkpoints.append(f"`{task.shipped.relative_to(ROOT).as_posix()}` (task `{task.name}`)")
    sizes = sorted(p.expected_params for p in full)
    return {
        "system": f"{family} (`{cls.__module__}.{cls.__name__}`)",
        "notebook": ", ".join(f"[{n[:2]}](notebooks/{n})" for n in notebooks) or "—",
        "from-scratch proof": ", ".join(f"[{n[:2]}](notebooks/{n})" for n in proofs) or "—",
        "diffusers parity": (f"`{converter}` · " + ", ".join(f"[{p}](tests/{p})" for p in parity)) if parity else "—",
        "full-size presets (exact count)": (", ".join(f"`{p.name}`" for p in full) + " ("
                                            + "–".join(sorted({f"{n / 1e9:.2f}B" for n in (sizes[0], sizes[-1])}))
                                            + ")") if full else "—",
        "tiny trained checkpoint": ", ".join(checkpoints) or "—",
    }


def table() -> str:
    rows = [row(family, names) for family, names in presets.families().items()]
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(r[h] for h in header) + " |" for r in rows]
    return "\n".join(lines)


BLOCK = re.compile(re.escape(BEGIN) + r"\n(.*?)" + re.escape(END), re.S)


def readme_block(readme: str) -> str | None:
    """The table between the markers in README.md (None without markers)."""
    match = BLOCK.search(readme)
    return match.group(1).strip() if match else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="update README.md in place")
    args = parser.parse_args(argv)
    text = table()
    if not args.write:
        print(text)
        return 0
    path = ROOT / "README.md"
    readme = path.read_text()
    if readme_block(readme) is None:
        sys.exit(f"README.md has no {BEGIN} ... {END} block to fill")
    path.write_text(BLOCK.sub(lambda _: f"{BEGIN}\n{text}\n{END}", readme))
    print(f"updated {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
