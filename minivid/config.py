"""The one switch between CI size and learner size, read in exactly one place.

`MINIVID_FAST=1` (or `0`) decides; if it is unset, `CI=true` means fast. A learner who sets
neither gets the full, learner-sized notebooks.
"""
import os

_TRUE = {"1", "true", "yes", "on"}


def fast_mode() -> bool:
    """True when notebooks should shrink their sizes so that each runs in seconds (CI mode)."""
    explicit = os.environ.get("MINIVID_FAST")
    if explicit is not None and explicit.strip() != "":
        return explicit.strip().lower() in _TRUE
    return os.environ.get("CI", "").strip().lower() in _TRUE
