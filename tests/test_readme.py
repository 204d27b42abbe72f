"""The README's two commands are the contract with a newcomer; CI runs the second."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_pip_commands():
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```[a-zA-Z]*\n(.*?)```", text, re.S)
    lines = [line.strip().lstrip("$ ").strip() for b in blocks for line in b.splitlines()]
    return [line for line in lines if "pip install" in line]


def test_readme_opens_with_verify_then_test_command():
    commands = _readme_pip_commands()
    assert len(commands) >= 2
    assert "python -m verify --quick" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command_verbatim():
    test_command = _readme_pip_commands()[1]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command in [line.strip() for line in ci]
