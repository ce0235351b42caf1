"""Reading a model folder in the diffusers layout: `config.json` + safetensors weights, single or sharded.

    Wan2.1-T2V-1.3B-Diffusers/
      model_index.json                 the pipeline: which class each subfolder holds
      transformer/config.json          {"_class_name": "WanTransformer3DModel", ...}
      transformer/diffusion_pytorch_model.safetensors
      vae/config.json                  {"_class_name": "AutoencoderKLWan", ...}
      vae/diffusion_pytorch_model-00001-of-00002.safetensors + ...safetensors.index.json (sharded)

Every `from_pretrained` in `minivid.interop` reads its folder here, so a wrong folder (the pipeline root,
the VAE instead of the transformer), a broken config or a truncated shard is a ValueError that names the
file and says which folder or loader would be right.
"""
from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import torch

from minivid.files import load_safetensors, read_json

WEIGHTS = "diffusion_pytorch_model.safetensors"
INDEX = "diffusion_pytorch_model.safetensors.index.json"


def loader_for(class_name: str) -> str | None:
    """The `minivid.interop` function that loads a diffusers class, found by each converter module's
    `DIFFUSERS_CLASS`; None if no converter handles it."""
    import minivid.interop as interop

    for module in pkgutil.iter_modules(interop.__path__):
        converter = importlib.import_module(f"minivid.interop.{module.name}")
        if getattr(converter, "DIFFUSERS_CLASS", None) == class_name:
            return f"minivid.interop.{module.name}.from_pretrained"
    return None


def read_config(folder: str | Path, class_name: str) -> dict:
    """`folder/config.json`, checked to describe a `class_name` (when it names its class at all)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder; pass the diffusers model folder (e.g. "
                         f"<checkpoint>/transformer) that holds config.json and {WEIGHTS}")
    config_path = folder / "config.json"
    if not config_path.is_file():
        parts = sorted(p.name for p in folder.iterdir() if (p / "config.json").is_file())
        hint = (f"it looks like a pipeline folder: pass one of its subfolders {parts}" if parts
                else "pass the folder that holds the model's config.json")
        raise ValueError(f"{folder} has no config.json; {hint}")
    config = read_json(config_path)
    if not isinstance(config, dict):
        raise ValueError(f"{config_path} should hold a JSON object (the model's config), got {type(config).__name__}")
    found = config.get("_class_name")
    if found is not None and found != class_name:
        loader = loader_for(found)
        fix = f"load it with {loader}" if loader else "minivid has no converter for that class yet"
        raise ValueError(f"{config_path} describes a {found}, not a {class_name}; {fix}")
    return config


def read_weights(folder: str | Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """The state dict of `folder`: one `diffusion_pytorch_model.safetensors`, or the shards listed in
    `diffusion_pytorch_model.safetensors.index.json`."""
    folder = Path(folder)
    if (folder / WEIGHTS).is_file():
        return load_safetensors(folder / WEIGHTS, str(device))
    if (folder / INDEX).is_file():
        index = read_json(folder / INDEX)
        weight_map = index.get("weight_map") if isinstance(index, dict) else None
        if not isinstance(weight_map, dict) or not weight_map:
            raise ValueError(f"{folder / INDEX} has no 'weight_map' {{tensor name: shard file}}")
        state_dict = {}
        for shard in sorted(set(weight_map.values())):
            state_dict.update(load_safetensors(folder / shard, str(device)))
        missing = sorted(set(weight_map) - set(state_dict))
        if missing:
            raise ValueError(f"the shards in {folder} lack {len(missing)} tensors that {INDEX} lists, e.g. "
                             f"{missing[:3]}; some shard is incomplete")
        return state_dict
    others = sorted(p.name for p in folder.glob("*.bin")) + sorted(p.name for p in folder.glob("*.pt*"))
    hint = f" (found {others}: PyTorch pickles, which minivid does not load; convert them to safetensors)" if others else ""
    raise ValueError(f"{folder} holds neither {WEIGHTS} nor {INDEX}{hint}")


def read_folder(folder: str | Path, class_name: str,
                device: str | torch.device = "cpu") -> tuple[dict, dict[str, torch.Tensor]]:
    """(config.json, state dict) of a diffusers model folder holding a `class_name`."""
    return read_config(folder, class_name), read_weights(folder, device)
