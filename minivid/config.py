"""The one switch between CI size and learner size, read in exactly one place.

`MINIVID_FAST=1` (or `0`) decides; if it is unset, `CI=true` means fast. A learner who sets
neither gets the full, learner-sized notebooks.
"""
import os
from pathlib import Path

_TRUE = {"1", "true", "yes", "on"}


def fast_mode() -> bool:
    """True when notebooks should shrink their sizes so that each runs in seconds (CI mode)."""
    explicit = os.environ.get("MINIVID_FAST")
    if explicit is not None and explicit.strip() != "":
        return explicit.strip().lower() in _TRUE
    return os.environ.get("CI", "").strip().lower() in _TRUE


# Everything the course writes (training runs, caches, files a notebook saves) goes under one folder,
# `runs/` at the top of the repository (git-ignored), whatever the working directory: notebooks run in
# notebooks/, the command line in the repository root. MINIVID_RUNS moves it elsewhere.
_REPO = Path(__file__).resolve().parents[1]


def runs_dir(*parts: str) -> Path:
    """`runs/<parts...>` (created): where a notebook or a training command keeps what it makes."""
    root = Path(os.environ["MINIVID_RUNS"]) if os.environ.get("MINIVID_RUNS") else _REPO / "runs"
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
