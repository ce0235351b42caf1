"""What every state-dict converter is made of: renaming rules, a key map built on the meta device, the check
that the keys are exactly the ones the config expects, and the conversion itself.

A converter for a new model family is then its renaming rules (and reshapes, if any):

    names = key_map(lambda: MyModel(config), lambda key: rename(key, MY_RULES))   # minivid -> diffusers
    theirs = convert(our_state_dict, names, "minivid state dict")
    ours = convert(their_state_dict, invert(names), "diffusers state dict")

and `minivid.interop.peer.Peer` turns the two conversions and two config translations into the module's
`from_diffusers`, `to_diffusers` and `from_pretrained`.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

import torch
from torch import nn

Rules = Iterable[tuple[str, str]]  # (regex, replacement) pairs, applied in order


def rename(key: str, rules: Rules) -> str:
    """Apply every `(pattern, replacement)` rule, in order, to `"." + key`, so that a rule can match a whole
    name (`r"\\.to_out\\."`) or the start of the key (`r"^\\.head\\."`); returns the renamed key."""
    key = "." + key
    for pattern, replacement in rules:
        key = re.sub(pattern, replacement, key)
    return key[1:]


def key_map(build: Callable[[], nn.Module], peer_key: Callable[[str], str]) -> dict[str, str]:
    """{minivid key: peer key} for every entry of `build()`'s state dict; the model is built on the meta
    device, so even a 14B model costs no memory and no init time."""
    with torch.device("meta"):
        keys = list(build().state_dict())
    return {key: peer_key(key) for key in keys}


def invert(names: Mapping[str, str]) -> dict[str, str]:
    """{peer key: minivid key} from a `key_map`."""
    return {new: old for old, new in names.items()}


def check_keys(got: Iterable[str], expected: Iterable[str], what: str) -> None:
    """Raise a ValueError naming missing and unexpected keys (a wrong config or a wrong checkpoint)."""
    got, expected = set(got), set(expected)
    missing, unexpected = sorted(expected - got), sorted(got - expected)
    if missing or unexpected:
        def short(keys: list[str]) -> str:
            return f"{keys[:8]}{'...' if len(keys) > 8 else ''}"
        raise ValueError(f"{what} does not match the config: missing {short(missing)}, "
                         f"unexpected {short(unexpected)}; was it saved from a model with another config?")


def convert(state_dict: Mapping[str, torch.Tensor], names: Mapping[str, str], what: str,
            reshape: Callable[[str, torch.Tensor], torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """`state_dict` with every key renamed by `names` (after `check_keys`), each tensor passed through
    `reshape(new_key, tensor)` when given (e.g. a Linear weight that the peer stores as a 1x1 conv)."""
    check_keys(state_dict, names, what)
    return {names[key]: tensor if reshape is None else reshape(names[key], tensor)
            for key, tensor in state_dict.items()}


def build_with_weights(build: Callable[[], nn.Module], state_dict: Mapping[str, torch.Tensor]) -> nn.Module:
    """`build()` on the meta device with `state_dict` assigned as its parameters: no random init is paid for
    and no memory is allocated twice. Only for models whose buffers are all in the state dict."""
    with torch.device("meta"):
        model = build()
    model.load_state_dict(state_dict, assign=True)
    return model
