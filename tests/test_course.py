"""course.py, the two commands of the README and their helpers: arguments handled as a learner types them."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import course  # noqa: E402  (the set-up script at the repository root)


@pytest.mark.parametrize("args,opens", [
    ([], course.TOUR), (["--port", "8899"], course.TOUR), (["--port=8899"], course.TOUR),
    (["--no-browser", "--ip", "0.0.0.0", "--port", "8899"], course.TOUR),
    (["notebooks/04_causal_video_vae.py", "--port", "8899"], "notebooks/04_causal_video_vae.py")])
def test_lab_passes_arguments_through_and_opens_the_tour_unless_a_notebook_is_named(args, opens):
    cmd = course.lab_command(args)
    assert cmd[1] == "lab" and cmd[3:3 + len(args)] == args
    assert [a for a in cmd if a.endswith(".py")] == [opens]


@pytest.mark.parametrize("argv", [["--help"], ["lab", "--help"], ["lab", "-h"], ["doctor", "--help"]])
def test_help_prints_the_course_commands_without_installing_anything(argv, tmp_path):
    env = {"MINIVID_VENV": str(tmp_path / "venv"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, str(ROOT / "course.py"), *argv], capture_output=True, text=True,
                          env=env, timeout=30)
    assert done.returncode == 0 and "python3 course.py lab" in done.stdout and "--port 8899" in done.stdout
    assert not (tmp_path / "venv").exists()


def test_unknown_command_says_what_the_commands_are():
    done = subprocess.run([sys.executable, str(ROOT / "course.py"), "serve"], capture_output=True, text=True)
    assert done.returncode == 2 and "unknown command 'serve'" in done.stdout and "course.py doctor" in done.stdout


def test_doctor_reports_every_check_and_what_to_fix(monkeypatch, capsys):
    monkeypatch.setattr(course, "_memory_bytes", lambda: 2 * 2**30)  # a 2 GB machine
    assert course.doctor([]) == 1
    printed = capsys.readouterr().out
    for needed in ("Python 3.", "free disk", "memory", "CPU cores", "chromium"):
        assert needed in printed
    assert "[FIX] 2.0 GB memory" in printed and "-> 4 GB or more" in printed
