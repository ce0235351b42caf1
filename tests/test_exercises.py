"""minivid.exercises.check: unanswered passes with a note, right passes with a tick, wrong fails with the hint."""
import pytest
import torch

from minivid.exercises import check


def test_an_unanswered_exercise_passes_and_says_what_to_do(capsys):
    assert check(None, 80) is False and check(..., 80) is False
    assert "not answered yet" in capsys.readouterr().out


@pytest.mark.parametrize("answer,expected", [(80, 80), (0.1 + 0.2, 0.3), ((5, 4, 4), (5, 4, 4)), (True, True),
                                             (torch.ones(2, 3), torch.ones(2, 3)), ("circle", "circle")])
def test_a_right_answer_is_accepted(answer, expected, capsys):
    assert check(answer, expected) is True and "right" in capsys.readouterr().out


@pytest.mark.parametrize("answer,expected", [(81, 80), ((5, 4), (5, 4, 4)), (1, True), (torch.ones(3, 2), torch.ones(2, 3)),
                                             (torch.zeros(2, 3), torch.ones(2, 3)), ("square", "circle")])
def test_a_wrong_answer_fails_with_the_hint(answer, expected):
    with pytest.raises(AssertionError, match="not quite: .*Hint: count the tokens"):
        check(answer, expected, "count the tokens")
