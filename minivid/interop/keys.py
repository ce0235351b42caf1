"""What every state-dict converter checks first: the keys are exactly the ones the config expects."""
from __future__ import annotations

from collections.abc import Iterable


def check_keys(got: Iterable[str], expected: Iterable[str], what: str) -> None:
    """Raise a ValueError naming missing and unexpected keys (a wrong config or a wrong checkpoint)."""
    got, expected = set(got), set(expected)
    missing, unexpected = sorted(expected - got), sorted(got - expected)
    if missing or unexpected:
        def short(keys: list[str]) -> str:
            return f"{keys[:8]}{'...' if len(keys) > 8 else ''}"
        raise ValueError(f"{what} does not match the config: missing {short(missing)}, "
                         f"unexpected {short(unexpected)}")
