"""The commit-msg hook (scripts/check_commit_msg.py) takes Conventional Commits only."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from scripts.check_commit_msg import problem

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "check_commit_msg.py"


@pytest.mark.parametrize(
    "message",
    [
        "feat(media): resume uploads after a dropped connection",
        "fix: a typo",
        "refactor(courses)!: split the studio\n\nBody text.",
        "docs(adr): 0018, a new producer",
        "Merge branch 'issue7-api'",
        "# a comment line git adds\nci: run lint first",
    ],
)
def test_good_messages_pass(message):
    assert problem(message) is None


@pytest.mark.parametrize(
    "message",
    [
        "Fix the thing",
        "feature: new",
        "fix:no space",
        "fix(): empty scope",
        "",
        "feat: " + "x" * 130,
    ],
)
def test_bad_messages_are_refused(message):
    assert problem(message)


def test_the_hook_exits_non_zero_on_a_bad_message(tmp_path):
    bad, good = tmp_path / "bad", tmp_path / "good"
    bad.write_text("Did some things\n")
    good.write_text("test: the hook itself\n")
    assert subprocess.run([sys.executable, SCRIPT, bad], capture_output=True).returncode == 1
    assert subprocess.run([sys.executable, SCRIPT, good], capture_output=True).returncode == 0
