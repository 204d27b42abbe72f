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


def test_readme_example_claim_runs_and_fails_on_a_wrong_kernel(tmp_path, monkeypatch):
    """The 'Adding a claim' example is a complete claim: it PASSes, a wrong kernel FAILs and
    a misspelt override is refused."""
    import importlib
    import sys

    import pytest

    text = (ROOT / "README.md").read_text()
    (source,) = [b for b in re.findall(r"```python\n(.*?)```", text, re.S)
                 if b.startswith("# verify/example_relu.py")]
    (tmp_path / "readme_example_claim.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("readme_example_claim", None)
    module = importlib.import_module("readme_example_claim")
    assert module.compute("quick", seed=0).passed
    assert not module.compute("quick", seed=0, scale=2.0).passed
    # the stated resolution: a 1% error is 11 SE at the full size (4e6 draws)
    assert not module.compute("quick", seed=0, scale=1.01, samples=4_000_000).passed
    with pytest.raises(ValueError, match="valid: samples"):
        module.compute("quick", scael=2.0)
