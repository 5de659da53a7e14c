"""tests/processes.py: the one place that starts, waits for and stops the project's processes in tests."""

import sys

import pytest

from tests import processes


def test_wait_until_up_returns_once_the_server_answers_and_stop_ends_it(tmp_path):
    port = processes.free_port()
    proc = processes.spawn([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                           tmp_path / "server.log", dict(processes.QUIET_ENV, PATH="/usr/bin:/bin"), cwd=tmp_path)
    try:
        took = processes.wait_until_up(processes.url(port) + "/", proc, "server",
                                       lambda: processes.read_log(tmp_path / "server.log"), timeout=60,
                                       interval=0.1)
        assert took >= 0
        assert proc.poll() is None
    finally:
        processes.stop([proc])
    assert proc.poll() is not None


def test_wait_until_up_reports_a_process_that_exits_with_its_log(tmp_path):
    log = tmp_path / "broken.log"
    proc = processes.spawn([sys.executable, "-c", "import sys; print('no model here'); sys.exit(3)"], log,
                           dict(processes.QUIET_ENV), cwd=tmp_path)
    with pytest.raises(RuntimeError, match=r"(?s)broken exited with 3:.*no model here"):
        processes.wait_until_up(processes.url(processes.free_port()), proc, "broken",
                                lambda: processes.read_log(log), timeout=60, interval=0.1)


def test_stack_env_gives_each_stack_its_own_database_secrets_and_no_ticket_platform(tmp_path, monkeypatch):
    monkeypatch.setenv("XIAOAN_TICKET_API_URL", "http://platform.invalid")
    one = processes.stack_env(tmp_path / "a", token="t", rasa_url="http://r", action_url="http://a")
    two = processes.stack_env(tmp_path / "b", token="t", rasa_url="http://r", action_url="http://a", SANIC_HOST="x")
    assert "XIAOAN_TICKET_API_URL" not in one
    assert one["DATABASE_URL"] == f"sqlite:///{tmp_path / 'a' / 'xiaoan.db'}"
    assert one["XIAOAN_ACTION_URL"] == "http://a/webhook"
    assert one["XIAOAN_REST_SECRET"] != two["XIAOAN_REST_SECRET"]
    assert (one["SANIC_HOST"], two["SANIC_HOST"]) == ("127.0.0.1", "x")


def test_commands_name_the_model_and_bind_to_the_loopback():
    cmd = processes.rasa_command(5005, "tok")
    assert cmd[cmd.index("--model") + 1] == str(processes.MODEL)
    assert "--auth-token=tok" in cmd and cmd[cmd.index("-i") + 1] == "127.0.0.1"
    assert processes.web_command(8000)[-4:] == ["--host", "127.0.0.1", "--port", "8000"]


def test_started_stops_the_stack_even_when_its_start_fails():
    class Stack:
        def __init__(self, fail: bool) -> None:
            self.fail, self.calls = fail, []

        def start(self):
            self.calls.append("start")
            if self.fail:
                raise RuntimeError("rasa exited")
            return self

        def stop(self) -> None:
            self.calls.append("stop")

    good = Stack(fail=False)
    with processes.started(good) as running:
        assert running is good and good.calls == ["start"]
    assert good.calls == ["start", "stop"]
    bad = Stack(fail=True)
    with pytest.raises(RuntimeError):
        with processes.started(bad):
            pass
    assert bad.calls == ["start", "stop"]


def test_require_model_skips_without_a_model_and_fails_under_ci(monkeypatch, tmp_path):
    monkeypatch.setattr(processes, "MODEL", tmp_path / "missing.tar.gz")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        processes.require_model()
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception):
        processes.require_model()
