"""The supervisors' page /console/stats with Flask's test client: roles, alerts first and
ordered, figures, de-identified ticket view, bad input, a broken rules file."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import Decimal

import pytest

from xiaoan.config import Settings
from xiaoan.db import session_scope, utcnow
from xiaoan.ratings import ServiceRating
from xiaoan.supervision import alerts as alerts_module
from xiaoan.tickets.routing import Router
from xiaoan.tickets.service import TicketDraft, TicketService
from xiaoan.web.app import create_app
from xiaoan.web.accounts import create_user

PASSWORD = "correct-horse-42"
NAME, PHONE, ADDRESS = "王小明", "13912345678", "上海市静安区南京西路1号"
ID_NUMBER = "31010119900101123X"


def draft(**overrides) -> TicketDraft:
    fields = dict(
        kind="complaint", intent="complain_prepaid", channel="web", conversation_id="conv-page",
        complainant_name=NAME, phone=PHONE, complainant_address=ADDRESS,
        respondent_name="乐活健身房", respondent_address="上海市浦东新区张杨路100号", district="pudong",
        facts="健身房关门跑路了，卡里还有两千", claim="退还余额", amount=Decimal("2000"),
    )
    fields.update(overrides)
    return TicketDraft(**fields)


def file_ticket(db_url: str, hours_ago: float, **overrides) -> str:
    at = utcnow() - dt.timedelta(hours=hours_ago)
    service = TicketService(Settings(database_url=db_url), clock=lambda: at,
                            router=Router(resolve_district=lambda text: None))
    return service.create(draft(**overrides), uuid.uuid4().hex).ticket_no


@pytest.fixture()
def app(db_url):
    with session_scope(db_url) as db:
        create_user(db, "sue", PASSWORD, "supervisor", "督导员")
        create_user(db, "root", PASSWORD, "admin", "管理员")
        create_user(db, "carl", PASSWORD, "agent", "坐席丙")
        create_user(db, "mary", PASSWORD, "maintainer", "维护员")
    return create_app(Settings(database_url=db_url, rasa_url="http://127.0.0.1:9",
                               web_secret_key="supervision-tests-0123456789abcdefXYZ"), testing=True)


def signed_in(app, username: str):
    client = app.test_client()
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', client.get("/console/login").text).group(1)
    response = client.post("/console/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.text
    return client


@pytest.fixture()
def tickets(db_url):
    """A high alert (乐活健身, 2 prepaid), a medium one (好味餐厅, 3 general), one lone complaint."""
    high = [file_ticket(db_url, 30, respondent_name="上海乐活健身有限公司"),
            file_ticket(db_url, 5, facts=f"我叫{NAME}，电话{PHONE}，身份证{ID_NUMBER}，住{ADDRESS}，老板跑路了，"
                                         f"店员电话13700001234")]
    medium = [file_ticket(db_url, h, respondent_name="好味餐厅", intent="complain_general", facts="饭菜不新鲜",
                          district="xuhui", amount=None) for h in (50, 40, 2)]
    lone = file_ticket(db_url, 1, respondent_name="便民超市", intent="complain_refund", facts="不给退货")
    return high, medium, lone


def test_signed_out_visitor_is_sent_to_sign_in(app):
    response = app.test_client().get("/console/stats")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/console/login?next=/console/stats")


@pytest.mark.parametrize("username", ["carl", "mary"])
def test_agents_and_maintainers_are_refused(app, username):
    client = signed_in(app, username)
    assert client.get("/console/stats").status_code == 403
    assert client.get("/console/stats/tickets/XA-261126-0001").status_code == 403
    assert "统计与预警" not in client.get("/console").text


@pytest.mark.parametrize("username", ["sue", "root"])
def test_supervisors_and_admins_see_the_page_and_the_landing_link(app, username):
    client = signed_in(app, username)
    page = client.get("/console/stats")
    assert page.status_code == 200 and "<h1>统计与预警</h1>" in page.text
    assert 'href="/console/stats"' in client.get("/console").text


def test_alerts_come_first_highest_severity_first_linking_their_tickets(app, tickets):
    high, medium, lone = tickets
    text = signed_in(app, "sue").get("/console/stats").text
    assert text.index("商家预警") < text.index("市民诉求")
    first, second = text.index('data-merchant="乐活健身"'), text.index('data-merchant="好味餐厅"')
    assert first < second < text.index("市民诉求")
    assert "高风险" in text[first:second] and "中风险" in text[second:]
    for number in high + medium:
        assert f'href="/console/stats/tickets/{number}"' in text
    assert lone not in text and 'data-merchant="便民超市"' not in text
    assert "4,000 元" in text                                # the high alert's total amount
    assert "浦东新区" in text and "跑路" in text


def test_the_page_never_shows_a_phone_number_or_a_complainant_name(app, tickets):
    text = signed_in(app, "sue").get("/console/stats?window=30d").text
    for secret in (NAME, PHONE, "139****5678", ID_NUMBER, "南京西路"):
        assert secret not in text
    assert not re.search(r"(?<![\d.])1[3-9]\d[\d*]{4}\d{4}(?!\d)", text)


def test_figures_follow_the_chosen_window(app, db_url, tickets):
    with session_scope(db_url) as s:
        s.add_all([ServiceRating(conversation_id=f"c{i}", level=level)
                   for i, level in enumerate(["satisfied", "basic", "dissatisfied", "satisfied"])])
    client = signed_in(app, "sue")
    week = client.get("/console/stats?window=7d").text
    assert "近7天，共 6 件工单" in week and "75.0%" in week     # 3 of 4 satisfied or basic
    assert re.search(r"预付卡纠纷</th>\s*<td class=\"sv-num\">2</td>", week)
    assert 'aria-current="page">近7天' in week
    today = client.get("/console/stats?window=today").text
    assert 'aria-current="page">今天' in today


def test_an_unknown_window_falls_back_with_a_clear_message(app):
    page = signed_in(app, "sue").get("/console/stats?window=forever")
    assert page.status_code == 200
    assert "统计时段无效，已显示近7天的数据。" in page.text and 'aria-current="page">近7天' in page.text


def test_a_broken_rules_file_keeps_the_figures_and_says_why(app, tickets, tmp_path, monkeypatch):
    broken = tmp_path / "alert_rules.yml"
    broken.write_text("version: 1\nrules: []\n", encoding="utf-8")
    monkeypatch.setattr(alerts_module, "RULES_PATH", broken)
    page = signed_in(app, "sue").get("/console/stats")
    assert page.status_code == 200
    assert "预警规则文件有误" in page.text and "共 6 件工单" in page.text


def test_the_ticket_view_is_de_identified(app, tickets):
    high, _, _ = tickets
    page = signed_in(app, "sue").get(f"/console/stats/tickets/{high[1].lower().replace('-', '')}")
    assert page.status_code == 200
    text = page.text
    assert high[1] in text and "老板跑路了" in text and "乐活健身房" in text and "2,000 元" in text
    for secret in (NAME, PHONE, ID_NUMBER, ADDRESS, "南京西路"):
        assert secret not in text
    assert "我叫［姓名已隐去］，电话［电话已隐去］" in text and "住［地址已隐去］" in text
    assert "**************123X" in text and "137****1234" in text
    assert "5678" not in text


def test_an_unknown_ticket_is_not_found(app):
    client = signed_in(app, "sue")
    assert client.get("/console/stats/tickets/XA-261126-9999").status_code == 404
    assert client.get("/console/stats/tickets/nonsense").status_code == 404


def test_the_stylesheet_is_served_for_the_csp(app):
    response = app.test_client().get("/console/stats/stats.css")
    assert response.status_code == 200 and response.mimetype == "text/css" and ".sv-alert" in response.text
