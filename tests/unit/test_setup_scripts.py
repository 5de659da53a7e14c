"""The shell scripts behind `make run` and `make test`: the environment they set up and the
message a user gets when Python 3.10 is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BASH = shutil.which("bash")


def _sourced_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The variables scripts/env.sh exports, sourced in a minimal environment."""
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **extra}
    out = subprocess.run([BASH, "-c", f"source {ROOT / 'scripts' / 'env.sh'} >/dev/null && env -0"],
                         env=env, capture_output=True, check=True, timeout=120).stdout
    return dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)


def test_env_switches_off_rasa_telemetry_and_its_crash_reports(tmp_path):
    # Rasa's Sentry reports carry tracebacks, which can hold a citizen's message
    assert _sourced_env(tmp_path)["RASA_TELEMETRY_ENABLED"] == "false"


def test_env_defaults_to_the_embedded_database_and_keeps_what_is_set(tmp_path):
    defaults = _sourced_env(tmp_path)
    assert defaults["DATABASE_URL"] == f"sqlite:///{ROOT / 'var' / 'xiaoan.db'}"
    assert defaults["SANIC_HOST"] == "127.0.0.1"
    chosen = _sourced_env(tmp_path, DATABASE_URL="postgresql://db.example/xiaoan")
    assert chosen["DATABASE_URL"] == "postgresql://db.example/xiaoan"


def test_test_script_switches_off_telemetry_for_every_process_it_starts():
    script = (ROOT / "scripts" / "test.sh").read_text(encoding="utf-8")
    exports = [line for line in script.splitlines() if line.startswith("export ")]
    assert any("RASA_TELEMETRY_ENABLED=false" in line for line in exports)


def test_find_python_explains_what_is_missing(tmp_path):
    # a PATH with bash and coreutils only, no pyenv and a HOME without ~/.pyenv
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "cat", "env"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    result = subprocess.run([str(bin_dir / "bash"), str(ROOT / "scripts" / "find-python.sh")],
                            env={"PATH": str(bin_dir), "HOME": str(tmp_path)},
                            capture_output=True, text=True, timeout=60)
    if result.returncode == 0:  # /usr/bin/python3.10 exists on this machine: nothing to explain
        pytest.skip(f"a system Python 3.10 is installed at {result.stdout.strip()}")
    assert result.returncode == 1
    assert "Python 3.10 was not found" in result.stderr
    assert "PYTHON310=" in result.stderr


def test_find_python_takes_the_interpreter_it_is_pointed_at(tmp_path):
    python = ROOT / ".venv" / "bin" / "python"
    result = subprocess.run([BASH, str(ROOT / "scripts" / "find-python.sh")],
                            env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYTHON310": str(python)},
                            capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == str(python)
