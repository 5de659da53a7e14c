"""One whole conversation through the WeChat channel of a real `rasa run` (the trained model, the
action server, the project database), in safe mode: every message WeChat posts is signed and
AES-encrypted, every passive reply comes back encrypted, and answers that do not fit the passive
reply go through the fake WeChat API's customer-service message endpoint.

tests/e2e/test_wechat_live.py probes the security checks against a plaintext-mode server; this
module starts its own Rasa server in safe mode (tests/unit/test_wechat_channel.py covers the
channel against an agent stub).
"""

from __future__ import annotations

import itertools
import json
import re
import time
import uuid

import pytest
import requests

from tests.e2e.test_conversations import COMPLAINT_ANSWERS
from tests.e2e.test_wechat_live import wechat_rasa_server
from tests.fakes.wechat_server import AES_KEY, FakeWeChatServer, WeChatPusher, event_xml, text_xml

pytestmark = pytest.mark.e2e

_ids = itertools.count(880_000_000)
TICKET_NO = re.compile(r"XA-\d{6}-\d{4}")
# a phone number the assistant's own wording never shows (its phone question's example is 13812345678)
ANSWERS = dict(COMPLAINT_ANSWERS, phone="13698765432")


@pytest.fixture(scope="module")
def fake_api():
    with FakeWeChatServer() as server:
        yield server


@pytest.fixture(scope="module")
def safe_rasa(stack, fake_api, tmp_path_factory):
    """(webhook URL, Rasa URL) of a Rasa server with the WeChat channel in safe mode."""
    with wechat_rasa_server(stack, fake_api, tmp_path_factory.mktemp("wechat-safe"), aes_key=AES_KEY) as urls:
        yield urls


class Citizen:
    """One WeChat user talking to the account: posts as WeChat does and reads what reaches them,
    by passive reply or through the customer-service API."""

    def __init__(self, url: str, base: str, token: str, fake_api) -> None:
        self.openid = f"oSafeE2E_{uuid.uuid4().hex[:19]}"
        self.pusher = WeChatPusher(url, aes_key=AES_KEY)
        self.base, self.token, self.fake_api = base, token, fake_api
        self.passive = 0          # answers that came back in the HTTP reply
        self.pushed = 0           # answers that came through the customer-service API

    def api_messages(self) -> list[str]:
        return [m.content for m in self.fake_api.messages if m.touser == self.openid]

    def exchange(self, xml: str) -> str:
        """Post one encrypted message; what the citizen reads in answer."""
        before = len(self.api_messages())
        reply = self.pusher.post(xml, timeout=30)
        assert reply.status == 200, reply.body
        if reply.content:
            assert reply.encrypted and reply.to_user == self.openid
            assert "<Encrypt>" in reply.body and reply.content not in reply.body   # nothing readable on the wire
            self.passive += 1
            return reply.content
        # slower than the channel's reply budget: WeChat got "success", the answer follows by API
        assert reply.body == "success"
        deadline = time.monotonic() + 120
        while len(self.api_messages()) <= before and time.monotonic() < deadline:
            self.fake_api.wait_for_messages(len(self.fake_api.messages) + 1, timeout=5)
        self.pushed += 1
        return "\n\n".join(self.api_messages()[before:])

    def says(self, text: str) -> str:
        return self.exchange(text_xml(self.openid, text, msg_id=next(_ids)))

    def tracker(self) -> dict:
        r = requests.get(f"{self.base}/conversations/{self.openid}/tracker", params={"token": self.token}, timeout=30)
        r.raise_for_status()
        return r.json()


def tickets(stack) -> list[dict]:
    result = stack.cli("tickets", "list", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_an_encrypted_wechat_complaint_becomes_a_ticket(safe_rasa, stack, fake_api):
    url, base = safe_rasa
    citizen = Citizen(url, base, stack.token, fake_api)
    before = {t["ticket_no"] for t in tickets(stack)}

    welcome = citizen.exchange(event_xml(citizen.openid, "subscribe", create_time=int(time.time())))
    assert "小安" in welcome and "回复数字选择：" in welcome        # the greeting's buttons, numbered

    first = citizen.says("浦东的乐活健身老板跑路了，我卡里还有两千块没用完")
    assert first
    asked: list[str] = []
    last = first
    for _ in range(20):
        tracker = citizen.tracker()
        requested = tracker["slots"].get("requested_slot")
        if not (tracker.get("active_loop") or {}).get("name") or requested is None:
            break
        assert requested in ANSWERS, f"unexpected question for {requested}: {last}"
        asked.append(requested)
        if requested == "confirmation":
            confirmation_id = next(_ids)
            last = confirm_with_a_lost_reply(citizen, fake_api, ANSWERS[requested], confirmation_id)
        else:
            last = citizen.says(ANSWERS[requested])
    else:
        raise AssertionError(f"the form did not finish; last answer: {last}")
    assert "respondent_name" not in asked and asked[-1] == "confirmation", asked   # the merchant came from the first message
    assert citizen.passive > 0                                          # encrypted passive replies were read

    created = [t for t in tickets(stack) if t["ticket_no"] not in before]
    assert len(created) == 1, last                                      # the repeated request ran nothing
    ticket = created[0]
    assert (ticket["channel"], ticket["conversation_id"]) == ("wechat", citizen.openid)
    assert (ticket["kind"], ticket["agency"], ticket["phone_masked"]) == ("complaint", "dist-pudong", "136****5432")
    assert ticket["respondent_name"] and "乐活健身" in ticket["respondent_name"]
    assert TICKET_NO.fullmatch(ticket["ticket_no"])
    assert ticket["ticket_no"] in last                                  # the number reached the citizen by the API
    assert "136****5432" in last and "13698765432" not in last          # with the phone masked
    confirmations = [e for e in citizen.tracker()["events"] if e["event"] == "user"
                     and e.get("message_id") == f"msg:{confirmation_id}"]   # the channel's key as Rasa's message id
    assert len(confirmations) == 1                                      # the repeat ran nothing


def confirm_with_a_lost_reply(citizen: Citizen, fake_api, text: str, msg_id: int) -> str:
    """The confirmation that files the ticket; WeChat loses the passive reply and repeats the same
    request byte for byte. The assistant does not run again; the answer goes out through the
    customer-service API. Returns what reached the citizen through the API."""
    xml = text_xml(citizen.openid, text, msg_id=msg_id)
    query, body = citizen.pusher.encrypted(xml, citizen.pusher.signed_params())
    before = len(citizen.api_messages())
    lost = citizen.pusher.reply_of(citizen.pusher.post_raw(body.encode(), query, timeout=30))
    assert lost.status == 200
    repeat = citizen.pusher.post_raw(body.encode(), query, timeout=30)
    assert repeat.status_code == 200 and repeat.text == "success"

    def arrived() -> bool:             # the passive reply WeChat lost, or (a slow turn) the late answer
        sent = citizen.api_messages()[before:]
        return lost.content in sent if lost.content else bool(sent)

    deadline = time.monotonic() + 120
    while not arrived() and time.monotonic() < deadline:
        fake_api.wait_for_messages(len(fake_api.messages) + 1, timeout=5)
    assert arrived(), "the answer did not come through the customer-service API"
    assert lost.content is None or lost.encrypted
    return "\n\n".join(citizen.api_messages()[before:])
