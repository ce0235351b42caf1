"""One name for every configuration: tiny CPU configs and the full published models.

    >>> import minivid.presets as presets
    >>> presets.names()                          # every registered name
    >>> model = presets.build("wan2.1-vae")      # on the meta device: no memory is allocated
    >>> presets.count_params("wan2.1-vae")       # exact parameter count of the full model

Full presets carry the official parameter count (`expected_params`); a test builds each on the
meta device and checks the count to the last parameter.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn


@dataclass(frozen=True)
class Preset:
    name: str
    make: Callable[[], nn.Module]  # builds the model on the current default device
    expected_params: int | None  # official count for a published model, None for tiny configs
    source: str  # where the configuration comes from


_REGISTRY: dict[str, Preset] = {}


def register(name: str, make: Callable[[], nn.Module], expected_params: int | None = None,
             source: str = "") -> None:
    if name in _REGISTRY:
        raise ValueError(f"preset {name!r} is already registered")
    _REGISTRY[name] = Preset(name, make, expected_params, source)


def names() -> list[str]:
    """All registered preset names, sorted."""
    return sorted(_REGISTRY)


def get(name: str) -> Preset:
    if name not in _REGISTRY:
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(names())}")
    return _REGISTRY[name]


def build(name: str, device: str | torch.device = "meta", dtype: torch.dtype | None = None) -> nn.Module:
    """Build a preset. The default `meta` device allocates nothing, so a 14B model is instant."""
    preset = get(name)
    with torch.device(device):
        model = preset.make()
    return model.to(dtype) if dtype is not None else model


def count_params(name: str) -> int:
    """Exact number of parameters of a preset (built on the meta device)."""
    return sum(p.numel() for p in build(name, device="meta").parameters())


# ---------------------------------------------------------------------------------------------
# Registered presets. Each model family adds its names in its own section below.
# ---------------------------------------------------------------------------------------------
