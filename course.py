#!/usr/bin/env python3
"""Set up minivid in a local virtual environment, then open the course or run the tests.

    python3 course.py lab       create/reuse .venv, install everything, open JupyterLab on notebook 00
    python3 course.py test      create/reuse .venv, install everything, run every test and notebook
    python3 course.py doctor    check this machine (Python, disk, memory, torch build, browser): what to fix
    python3 course.py book      build the browsable book of the whole course with outputs (learner mode,
                                ~10 minutes; --fast for CI-sized outputs), then open build/book/_build/html
    python3 course.py ipynb     write every notebook as .ipynb (for Colab and other tools) into build/ipynb

Needs nothing but Python (3.10+) with pip and venv. Every command is safe to re-run: the environment is
reused and only re-installed when pyproject.toml changes.

`lab` passes its other arguments to JupyterLab and opens the tour notebook unless you name one:
    python3 course.py lab --port 8899                      another port
    python3 course.py lab --no-browser --ip 0.0.0.0        a remote or headless machine: open the
                                                           printed http://...?token=... URL yourself
    python3 course.py lab notebooks/04_causal_video_vae.py start at another notebook
    MINIVID_FAST=1 python3 course.py lab                   quick CI-sized runs in every notebook
Stop JupyterLab with Ctrl+C in this terminal (twice, or answer y), or File -> Shut Down in the browser.

`test` passes its arguments to pytest:  python3 course.py test tests/test_data.py -x

Environment variables:
    MINIVID_TORCH        pip requirement used to install torch first (default: torch==2.13.0).
    MINIVID_TORCH_INDEX  --index-url for that torch install. A laptop without an NVIDIA GPU saves
                         several GB with the CPU-only wheels:
                         MINIVID_TORCH_INDEX=https://download.pytorch.org/whl/cpu python3 course.py lab
    MINIVID_VENV         where to put the virtual environment (default: .venv next to this file).
    MINIVID_FAST         1 = CI-sized notebooks (the test command's default), 0 = learner size.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("MINIVID_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
EXTRAS = {"lab": "notebooks", "test": "notebooks,test", "book": "notebooks,book"}
# torch is installed before the project so that pip never picks a torch build on its own
# (on a plain Linux box an unpinned `torch` can mean a multi-GB CUDA download).
TORCH = os.environ.get("MINIVID_TORCH", "torch==2.13.0")
TOUR = "notebooks/00_tour.py"
NEEDS = {"disk_gb": 2.5, "memory_gb": 4.0}  # a CPU-only venv is ~1.6 GB; each notebook kernel ~2.5 GB at most

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


def lab_command(args: list[str]) -> list[str]:
    """The `jupyter lab` command line for `course.py lab ARGS`: the arguments go to JupyterLab as they are
    (`--port 8899` or `--port=8899` alike), and the tour opens unless a notebook file is named."""
    cmd = [str(BIN / "jupyter"), "lab", f"--ServerApp.root_dir={ROOT}", *args]
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in args:
        cmd.append("--allow-root")
    if not any(arg.endswith((".py", ".ipynb")) and not arg.startswith("-") for arg in args):
        cmd.append(TOUR)
    return cmd


def lab(args: list[str]) -> int:
    setup(EXTRAS["lab"])
    cmd = lab_command(args)
    print("+", " ".join(cmd), flush=True)
    print("JupyterLab opens notebooks/00_tour.py; stop it with Ctrl+C here (or File -> Shut Down).", flush=True)
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


# ---- doctor: what this machine has, and what to fix ---------------------------------------------------

def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GB"


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not on this platform (Windows)
        return None


def checks() -> list[tuple[bool | None, str, str]]:
    """(ok, what was found, what to do if not ok) for everything the course needs; ok is None for
    something optional that is missing."""
    out = []
    version = ".".join(map(str, sys.version_info[:3]))
    out.append((sys.version_info >= (3, 10), f"Python {version} at {sys.executable}",
                "install Python 3.10 or newer (python.org, your package manager, or pyenv)"))
    has_venv = True
    try:
        import ensurepip  # noqa: F401  (python3-venv on Debian/Ubuntu ships it)
    except ImportError:
        has_venv = False
    out.append((has_venv, "venv with pip" if has_venv else "venv without ensurepip",
                "install the venv module: `sudo apt install python3-venv` on Debian/Ubuntu"))
    free = shutil.disk_usage(ROOT).free
    installed = PY.exists()
    needed = 0 if installed else NEEDS["disk_gb"] * 2**30
    out.append((free >= needed, f"{_gib(free)} free disk at {ROOT}" + (" (environment installed)" if installed else ""),
                f"free at least {NEEDS['disk_gb']} GB: the environment with CPU-only torch is ~1.6 GB, with "
                "the CUDA build several GB more"))
    memory = _memory_bytes()
    out.append((memory is None or memory >= NEEDS["memory_gb"] * 2**30,
                f"{_gib(memory)} memory" if memory else "memory size unknown on this platform",
                f"{NEEDS['memory_gb']:.0f} GB or more is comfortable: a notebook kernel peaks at ~2.5 GB; close "
                "other kernels (Kernel -> Shut Down All Kernels) on a smaller machine"))
    out.append((True, f"{os.cpu_count()} CPU cores", ""))
    if installed:
        probe = subprocess.run([str(PY), "-c", "import torch, json; print(json.dumps([torch.__version__, "
                                "torch.version.cuda, torch.cuda.is_available()]))"], capture_output=True, text=True)
        if probe.returncode == 0:
            torch_version, cuda, gpu = json.loads(probe.stdout.strip().splitlines()[-1])
            build = f"CUDA {cuda} build" if cuda else "CPU-only build"
            wasted = bool(cuda) and not gpu
            out.append((not wasted, f"torch {torch_version}, {build}" + (", GPU available" if gpu else ", no GPU"),
                        "this CUDA build is several GB that a machine without an NVIDIA GPU never uses: delete "
                        f"{VENV} and reinstall with MINIVID_TORCH_INDEX=https://download.pytorch.org/whl/cpu"))
        else:
            out.append((False, "torch does not import in the environment",
                        f"delete {VENV} and run `python3 course.py lab` again"))
    else:
        out.append((True, f"no environment yet at {VENV}: `python3 course.py lab` creates it (~1-3 minutes)", ""))
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    out.append((True if chromium else None, f"chromium at {chromium}" if chromium else "no chromium (optional)",
                "only the browser test and `course.py book`'s page check need it: `sudo apt install chromium` "
                "(without it they are skipped, except in CI)"))
    return out


def doctor(args: list[str]) -> int:
    results = checks()
    for ok, found, fix in results:
        print(f"[{ {True: 'OK', False: 'FIX', None: '--'}[ok] }] {found}" + ("" if ok else f"\n       -> {fix}"))
    problems = sum(ok is False for ok, _, _ in results)
    print("everything the course needs is here" if not problems else f"{problems} thing(s) to fix, see above")
    return 1 if problems else 0


def book(args: list[str]) -> int:
    setup(EXTRAS["book"])
    return subprocess.call([str(PY), str(ROOT / "scripts" / "build_book.py"), "book", *args], cwd=ROOT)


def ipynb(args: list[str]) -> int:
    setup(EXTRAS["lab"])
    return subprocess.call([str(PY), str(ROOT / "scripts" / "build_book.py"), "ipynb", *args], cwd=ROOT)


COMMANDS = {"lab": lab, "test": test, "doctor": doctor, "book": book, "ipynb": ipynb}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__)
        return 0 if argv else 2
    command, args = argv[0], argv[1:]
    if command == "setup":
        setup(EXTRAS["test"])
        return 0
    if command not in COMMANDS:
        print(f"unknown command {command!r}\n{__doc__}")
        return 2
    if command in ("lab", "doctor") and any(arg in ("-h", "--help") for arg in args):
        print(__doc__)  # before installing anything; JupyterLab's own options: .venv/bin/jupyter lab --help
        return 0
    return COMMANDS[command](args)


if __name__ == "__main__":
    sys.exit(main())
