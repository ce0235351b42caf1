"""One minivid model and its diffusers class, and the three operations every converter offers, written once.

A converter module writes what is particular to its model — the two config translations and the two
state-dict conversions (`minivid.interop.keys`) — and hands them to a `Peer`:

    PEER = Peer(WanModel, "WanTransformer3DModel", config_from_diffusers, config_to_diffusers,
                diffusers_to_minivid, minivid_to_diffusers)
    PEER.from_diffusers(their_model)      # a diffusers model in memory -> minivid, same device and dtype
    PEER.to_diffusers(our_model)          # and back (imports diffusers)
    PEER.from_pretrained("CogVideoX-5b/transformer")   # a diffusers-layout folder, single or sharded
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from minivid.interop.folder import read_folder
from minivid.interop.keys import build_with_weights

StateDict = Mapping[str, torch.Tensor]


@dataclass(frozen=True)
class Peer:
    model: Callable[[Any], nn.Module]  # the minivid class: config -> model
    diffusers_class: str  # its peer's class name in diffusers (and in a folder's config.json `_class_name`)
    config_from_diffusers: Callable[[Mapping[str, Any]], Any]
    config_to_diffusers: Callable[[Any], dict[str, Any]]
    to_minivid: Callable[..., dict[str, torch.Tensor]]  # (diffusers state dict, config, **options)
    to_peer: Callable[[StateDict, Any], dict[str, torch.Tensor]]  # (minivid state dict, config)
    # False for models with buffers that the config, not the state dict, provides (a VAE's latent
    # statistics): those are built on the device and loaded, not built on the meta device and assigned
    build_on_meta: bool = True

    def build(self, config, state_dict: StateDict, device) -> nn.Module:
        """The minivid model of `config` holding `state_dict` (already in minivid's layout)."""
        if self.build_on_meta:
            return build_with_weights(lambda: self.model(config), state_dict)
        with torch.device(device):
            model = self.model(config)
        model.load_state_dict(state_dict)
        return model

    def from_diffusers(self, peer: nn.Module, **options) -> nn.Module:
        """A minivid model with the weights, device and dtype of the diffusers model `peer`."""
        config = self.config_from_diffusers(peer.config)
        param = next(peer.parameters())
        model = self.build(config, self.to_minivid(peer.state_dict(), config, **options), param.device)
        return model.to(device=param.device, dtype=param.dtype)

    def to_diffusers(self, model: nn.Module) -> nn.Module:
        """The diffusers model with the weights, device and dtype of the minivid `model` (imports diffusers)."""
        import diffusers

        param = next(model.parameters())
        with torch.device(param.device):
            theirs = getattr(diffusers, self.diffusers_class)(**self.config_to_diffusers(model.config))
        if param.dtype != torch.float32:  # diffusers warns on any `.to(dtype)`, even a no-op one
            theirs = theirs.to(param.dtype)
        theirs.load_state_dict(self.to_peer(model.state_dict(), model.config))
        return theirs

    def from_pretrained(self, folder: str | Path, device: str | torch.device = "cpu",
                        dtype: torch.dtype | None = torch.float32, **options) -> nn.Module:
        """The minivid model of a diffusers-layout folder (`config.json` + safetensors, sharded or not), in eval
        mode. `dtype=torch.float32` (default) is the official inference set-up — float32 weights, low
        precision only under `torch.autocast`; `None` keeps the stored dtype. A wrong folder or a truncated
        shard is a ValueError naming the file (`minivid.interop.folder`)."""
        config_dict, state_dict = read_folder(folder, self.diffusers_class, device)
        config = self.config_from_diffusers(config_dict)
        model = self.build(config, self.to_minivid(state_dict, config, **options), device)
        return (model.to(dtype) if dtype is not None else model).eval()
