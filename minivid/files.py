"""Reading the files minivid is given — safetensors weights and JSON configs — with errors that name the file.

A truncated download or a `.bin`/`.pt` file renamed to `.safetensors` makes the safetensors library raise
`SafetensorError: Error while deserializing header: ...` without the path, and a broken `config.json` a
`JSONDecodeError` without the path. Every loader in minivid (checkpoints, shipped weights, diffusers
folders) reads through these helpers instead, so the error says which file and what to do.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch
from safetensors import SafetensorError, safe_open


def _missing(path: Path) -> ValueError:
    return ValueError(f"{path} does not exist" + (f"; {path.parent} holds: "
                      f"{', '.join(sorted(p.name for p in path.parent.iterdir())[:10]) or 'nothing'}"
                      if path.parent.is_dir() else ""))


@contextmanager
def open_safetensors(path, device: str = "cpu") -> Iterator[Any]:
    """`safetensors.safe_open(path, "pt")`, with a ValueError naming `path` when it is missing, is not a
    safetensors file, or is truncated (its header promises more bytes than the file holds)."""
    path = Path(path)
    if not path.is_file():
        raise _missing(path)
    try:
        handle = safe_open(str(path), framework="pt", device=str(device))
    except (SafetensorError, OSError) as error:
        raise ValueError(f"{path} is not a readable safetensors file ({error}); it may be truncated (download "
                         "it again) or in another format (a PyTorch .bin/.pt pickle loads with torch.load, "
                         "then safetensors.torch.save_file converts it)") from None
    with handle as file:
        yield file


def load_safetensors(path, device: str = "cpu", prefix: str = "") -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file whose names start with `prefix` (all by default)."""
    with open_safetensors(path, device) as file:
        try:
            return {name: file.get_tensor(name) for name in file.keys() if name.startswith(prefix)}
        except (SafetensorError, OSError) as error:  # a header that is fine, data that is cut short
            raise ValueError(f"{path} is truncated or damaged ({error}); download or write it again") from None


def safetensors_metadata(path) -> dict[str, str]:
    """The `str -> str` metadata header of a safetensors file ({} if it has none)."""
    with open_safetensors(path) as file:
        return file.metadata() or {}


def read_json(path) -> Any:
    """A JSON file, with a ValueError naming `path` (and the line) when it is missing or not valid JSON."""
    path = Path(path)
    if not path.is_file():
        raise _missing(path)
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON ({error})") from None
