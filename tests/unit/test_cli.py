"""The tollway command: serve says honestly that the gateway is not here yet."""

import subprocess
import sys

from tollway.cli import main


def test_serve_is_an_honest_failure(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "arrives with issue 6" in err
    assert "nothing is listening" in err


def test_console_script_help() -> None:
    out = subprocess.run([sys.executable, "-m", "tollway.cli"], capture_output=True, text=True, check=True)
    assert "serve" in out.stdout
