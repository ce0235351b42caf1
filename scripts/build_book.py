"""Build the course as a browsable book with outputs, or export the notebooks as .ipynb files.

    python scripts/build_book.py book [--fast] [--out build/book]   # Jupyter Book: runs every notebook
    python scripts/build_book.py ipynb [--out build/ipynb]           # .ipynb copies for Colab and co.

`python3 course.py book` and `python3 course.py ipynb` run these inside the course's environment.
The book is built from a copy (OUT/src: book/, the notebooks, INSTRUCTORS.md) with a table of contents
made from the notebooks present, so a new notebook appears in the book without editing anything. Learner
mode by default (full-size outputs; ~10 minutes on a 2-core CPU); `--fast` builds CI-sized outputs.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import jupytext

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
PARTS = [("Part I: from image diffusion to video", range(0, 12)), ("Part II: the systems", range(12, 30))]


def title(path: Path) -> str:
    """The notebook's first heading, e.g. '04 — The causal video VAE'."""
    first = jupytext.read(path).cells[0].source
    return re.sub(r"^#\s*", "", first.splitlines()[0]).strip()


def toc(notebooks: list[Path], extra_pages: list[str]) -> str:
    lines = ["format: jb-book", "root: intro", "parts:"]
    for caption, numbers in PARTS:
        chapters = [p for p in notebooks if int(p.name[:2]) in numbers]
        if chapters:
            lines += [f"  - caption: \"{caption}\"", "    chapters:"]
            lines += [f"      - file: notebooks/{p.stem}" for p in chapters]
    if extra_pages:
        lines += ["  - caption: \"For instructors\"", "    chapters:"] + [f"      - file: {page}" for page in extra_pages]
    return "\n".join(lines) + "\n"


def assemble(src: Path) -> None:
    if src.exists():
        shutil.rmtree(src)
    shutil.copytree(ROOT / "book", src)
    (src / "notebooks").mkdir()
    for path in NOTEBOOKS:
        shutil.copy(path, src / "notebooks" / path.name)
    extra = []
    if (ROOT / "INSTRUCTORS.md").exists():
        shutil.copy(ROOT / "INSTRUCTORS.md", src / "instructors.md")
        extra.append("instructors")
    (src / "_toc.yml").write_text(toc(NOTEBOOKS, extra))


def build_book(out: Path, fast: bool) -> Path:
    src = out / "src"
    assemble(src)
    env = dict(os.environ, MINIVID_FAST="1" if fast else "0")
    env.pop("MPLBACKEND", None)  # Agg would remove the inline figures
    started = time.time()
    cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(src), "--path-output", str(out),
           "--builder", "html", "--keep-going"]
    print("+", " ".join(cmd), flush=True)
    done = subprocess.run(cmd, env=env, cwd=ROOT)
    html = out / "_build" / "html"
    reports = sorted((html / "reports").glob("**/*.err.log")) if (html / "reports").exists() else []
    if done.returncode != 0 or reports or not (html / "index.html").exists():
        for report in reports:
            print(f"--- {report}\n{report.read_text()[-3000:]}")
        sys.exit(f"the book did not build cleanly (exit {done.returncode}, {len(reports)} notebook error reports)")
    print(f"built in {(time.time() - started) / 60:.1f} min ({'CI' if fast else 'learner'} mode): "
          f"{html / 'index.html'}")
    return html


def export_ipynb(out: Path) -> list[Path]:
    """Every notebook as an .ipynb without outputs (the .py files stay the source of truth)."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in NOTEBOOKS:
        target = out / f"{path.stem}.ipynb"
        jupytext.write(jupytext.read(path), target, fmt="ipynb")
        written.append(target)
    print(f"wrote {len(written)} notebooks to {out}")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["book", "ipynb"])
    parser.add_argument("--out", default=None, help="output folder (default: build/book or build/ipynb)")
    parser.add_argument("--fast", action="store_true", help="CI-sized outputs (the book builds in ~2 minutes)")
    args = parser.parse_args(argv)
    out = Path(args.out) if args.out else ROOT / "build" / args.what
    if args.what == "book":
        build_book(out.resolve(), args.fast)
    else:
        export_ipynb(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
