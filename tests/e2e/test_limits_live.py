"""Issue 12, item 3 against the running web app: password spraying from one address gets 429.

The unit-level probes of every limit are in tests/security/test_limits.py; this one checks the
wiring in the real `xiaoan web` process (its store, the client address waitress reports, the
429 page). The counters of 127.0.0.1 are cleared before and after, so that the other tests of
the session that sign in from loopback are not affected.
"""

from __future__ import annotations

import re
import subprocess

import pytest
import requests

from tests.e2e.conftest import BIN, ROOT
from xiaoan.ratelimit import LimitSettings, build_rate_limiter

LOOPBACK = "127.0.0.1"
PASSWORD = "live-probe-password-42"


def _clear_login_counters(stack) -> None:
    limiter = build_rate_limiter(stack.env.get("XIAOAN_REDIS_URL") or None, stack.env["DATABASE_URL"])
    limits = LimitSettings.from_env(stack.env)
    for limit in (limits.login_ip_failures, limits.login_ip_attempts):
        limiter.reset(limit, LOOPBACK)


def _sign_in(http: requests.Session, web_url: str, username: str, password: str) -> requests.Response:
    page = http.get(f"{web_url}/console/login", timeout=30)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
    return http.post(f"{web_url}/console/login", data={"username": username, "password": password,
                                                        "csrf_token": token},
                     allow_redirects=False, timeout=30)


@pytest.fixture()
def clean_loopback(stack):
    _clear_login_counters(stack)
    yield
    _clear_login_counters(stack)


def test_password_spraying_from_one_address_is_refused_with_429(stack, clean_loopback):
    added = subprocess.run([str(BIN / "xiaoan"), "users", "add", "limitprobe", "--role", "agent"],
                           env={**stack.env, "XIAOAN_NEW_USER_PASSWORD": PASSWORD}, cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert added.returncode == 0, added.stderr

    failures = LimitSettings.from_env(stack.env).login_ip_failures.count
    http = requests.Session()
    statuses = [_sign_in(http, stack.web_url, f"sprayed{i:03d}", "Spring2026!").status_code
                for i in range(failures)]
    assert statuses == [401] * failures  # one try per username: no per-username lockout fires

    refused = _sign_in(http, stack.web_url, "limitprobe", PASSWORD)  # even the right password
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "登录尝试过于频繁" in refused.text

    _clear_login_counters(stack)  # an operator clears the address: the account works
    assert _sign_in(requests.Session(), stack.web_url, "limitprobe", PASSWORD).status_code == 302
