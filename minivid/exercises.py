"""Self-checking exercises: the learner writes an answer, runs the cell, and is told whether it is right.

    answer = None  # your answer here
    check(answer, token_count(33, 64, 64, vae_stride=(4, 4, 4)), "latent frames x latent height x ...")

`None` (or `...`) means "not answered yet": the cell prints what to do and passes, so "Run All" never
stops on an unanswered exercise. A wrong answer raises an AssertionError with the hint; a right one
prints a tick. The worked solutions sit in a collapsed cell below each exercise (tag `solution`), which
the tests run, so solutions cannot rot.
"""
from __future__ import annotations

import math

import torch


def _same(answer, expected, rtol: float, atol: float) -> bool:
    if torch.is_tensor(expected) or torch.is_tensor(answer):
        answer, expected = torch.as_tensor(answer), torch.as_tensor(expected)
        return answer.shape == expected.shape and torch.allclose(answer.to(expected.dtype), expected, rtol, atol)
    if isinstance(expected, bool) or isinstance(answer, bool):
        return answer is expected
    if isinstance(expected, (int, float)) and isinstance(answer, (int, float)):
        return math.isclose(answer, expected, rel_tol=rtol, abs_tol=atol)
    if isinstance(expected, (tuple, list)) and isinstance(answer, (tuple, list)):
        return len(answer) == len(expected) and all(_same(a, e, rtol, atol) for a, e in zip(answer, expected))
    return answer == expected


def check(answer, expected, hint: str = "", rtol: float = 1e-6, atol: float = 1e-8) -> bool:
    """True (and a tick) if `answer` equals `expected` (numbers and tensors within rtol/atol); False with a
    note if it is not answered yet (None or ...); an AssertionError carrying `hint` if it is wrong."""
    if answer is None or answer is Ellipsis:
        print("not answered yet: put your answer in the variable above and run this cell again")
        return False
    if not _same(answer, expected, rtol, atol):
        shown = answer if not torch.is_tensor(answer) else f"a tensor of shape {tuple(answer.shape)}"
        raise AssertionError(f"not quite: your answer is {shown!r}." + (f" Hint: {hint}" if hint else ""))
    print("✓ right")
    return True
