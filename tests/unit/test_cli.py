"""The tollway command line: help, and the subcommands' wiring (each command is tested beside its module)."""

import subprocess
import sys
from pathlib import Path

import pytest

from tollway.cli import main


def test_console_script_help() -> None:
    out = subprocess.run([sys.executable, "-m", "tollway.cli"], capture_output=True, text=True, check=True)
    for command in ("serve", "prices", "config"):
        assert command in out.stdout


def test_config_check_is_wired(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "config.yaml"
    good.write_text("model_list:\n  - model_name: demo\n    litellm_params:\n      model: mock/demo\n")
    assert main(["config", "check", str(good)]) == 0
    capsys.readouterr()
    bad = tmp_path / "bad.yaml"
    bad.write_text("model_list: 3\n")
    assert main(["config", "check", str(bad)]) == 1
    captured = capsys.readouterr()
    assert "model_list" in captured.out + captured.err
