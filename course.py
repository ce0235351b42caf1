#!/usr/bin/env python3
"""Set up minivid in a local virtual environment, then open the course or run the tests.

    python3 course.py lab     # create/reuse .venv, install everything, open JupyterLab
    python3 course.py test    # create/reuse .venv, install everything, run every test and notebook

Needs nothing but Python (3.10+) with pip and venv. Both commands are safe to re-run: the
environment is reused and only re-installed when pyproject.toml changes.

Environment variables:
    MINIVID_TORCH        pip requirement used to install torch first (default: torch==2.13.0).
                         A laptop without an NVIDIA GPU can save several GB with the CPU-only
                         wheel index, e.g. MINIVID_TORCH_INDEX=https://download.pytorch.org/whl/cpu
    MINIVID_TORCH_INDEX  optional --index-url for that torch install.
    MINIVID_VENV         where to put the virtual environment (default: .venv next to this file).
    MINIVID_FAST         1 = CI-sized notebooks (the test command's default), 0 = learner size.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("MINIVID_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
EXTRAS = {"lab": "notebooks", "test": "notebooks,test"}
# torch is installed before the project so that pip never picks a torch build on its own
# (on a plain Linux box an unpinned `torch` can mean a multi-GB CUDA download).
TORCH = os.environ.get("MINIVID_TORCH", "torch==2.13.0")

# JupyterLab settings for this environment only (the learner's home folder is not touched):
# open .py notebooks as notebooks on double-click, and no news pop-ups.
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"python": "Jupytext Notebook"}},
    "@jupyterlab/apputils-extension:notification": {"checkForUpdates": False, "fetchNews": "false"},
}


def run(*cmd: str | Path, **kw) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, **kw)


def has_module(name: str) -> bool:
    return subprocess.run([str(PY), "-c", f"import {name}"], capture_output=True).returncode == 0


def setup(extras: str) -> None:
    """Create or reuse the virtual environment and install minivid with `extras`."""
    if sys.version_info < (3, 10):
        sys.exit(f"minivid needs Python >= 3.10, this is {sys.version.split()[0]}")
    if not PY.exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / ".minivid-installed.json"
    want = {"extras": extras, "torch": TORCH,
            "pyproject": hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()}
    done = json.loads(stamp.read_text()) if stamp.exists() else {}
    if not has_module("torch"):
        index = os.environ.get("MINIVID_TORCH_INDEX")
        run(PY, "-m", "pip", "install", TORCH, *(["--index-url", index] if index else []))
    if done.get("pyproject") != want["pyproject"] or set(extras.split(",")) - set(done.get("extras", "").split(",")):
        run(PY, "-m", "pip", "install", "-e", f"{ROOT}[{extras}]")
        merged = ",".join(sorted(set(extras.split(",")) | set(filter(None, done.get("extras", "").split(",")))))
        stamp.write_text(json.dumps({**want, "extras": merged}))
    write_lab_settings(VENV / "etc" / "jupyter")


def write_lab_settings(config_dir: Path) -> None:
    """Store LAB_SETTINGS where JupyterLab reads default setting overrides in `config_dir`."""
    path = config_dir / "labconfig" / "default_setting_overrides.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(LAB_SETTINGS, indent=2))


def lab(args: list[str]) -> int:
    setup(EXTRAS["lab"])
    cmd = [str(BIN / "jupyter"), "lab", f"--ServerApp.root_dir={ROOT}", *args]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    if all(a.startswith("-") for a in args):  # no notebook named: start at the tour
        cmd.append("notebooks/00_tour.py")
    print("+", " ".join(cmd), flush=True)
    return subprocess.call(cmd, cwd=ROOT)


def test(args: list[str]) -> int:
    setup(EXTRAS["test"])
    env = dict(os.environ)
    env.setdefault("MINIVID_FAST", "1")  # notebooks at CI size unless the caller says otherwise
    env.pop("MPLBACKEND", None)  # MPLBACKEND=Agg would silently remove inline figures
    with tempfile.TemporaryDirectory(prefix="minivid-ipython-") as ipython_dir:
        # Kernel tracebacks keep ANSI colours in pytest's log unless the kernel is told otherwise.
        profile = Path(ipython_dir) / "profile_default"
        profile.mkdir(parents=True)
        (profile / "ipython_kernel_config.py").write_text("c.InteractiveShell.colors = 'nocolor'\n")
        env["IPYTHONDIR"] = ipython_dir
        cmd = [str(PY), "-m", "pytest", *args]
        print("+", " ".join(cmd), flush=True)
        return subprocess.call(cmd, cwd=ROOT, env=env)


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in ("lab", "test", "setup"):
        print(__doc__)
        return 2
    command, args = sys.argv[1], sys.argv[2:]
    if command == "setup":
        setup(EXTRAS["test"])
        return 0
    return {"lab": lab, "test": test}[command](args)


if __name__ == "__main__":
    sys.exit(main())
