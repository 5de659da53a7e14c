"""The weekly report 《投诉举报动态》 printed to PDF by the real headless Chromium (`xiaoan report weekly`
and the console's PDF download), then rendered back to images with pypdfium2: pages are not blank
and the key numbers are in the PDF's text."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from click.testing import CliRunner

from tests.supervision_seed import SECRET_NAME, SECRET_PHONE, UNANSWERED_PHONE, seed
from xiaoan.cli import cli
from xiaoan.db import session_scope
from xiaoan.supervision.report import last_full_week, week_code

pytestmark = pytest.mark.browser
MONDAY = dt.date(2026, 11, 30)                  # 2026-W49


def pdf_pages(path, artifacts=None, prefix="report"):
    """(text of every page, share of non-white pixels of every page) of a PDF."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    texts, inked = [], []
    try:
        for i, page in enumerate(pdf):
            texts.append(page.get_textpage().get_text_range())
            image = page.render(scale=1).to_pil()
            if artifacts is not None:
                image.save(artifacts / f"{prefix}-page{i + 1}.png")
            image = image.convert("L")
            pixels = list(image.getdata())
            inked.append(sum(1 for p in pixels if p < 200) / len(pixels))
    finally:
        pdf.close()
    return texts, inked


def flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_cli_writes_html_and_a_pdf_whose_pages_carry_the_figures(db_url, chromium_executable, tmp_path, artifacts):
    seed(db_url, MONDAY)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["report", "weekly", "--week", "2026-W49", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "工单 5 件" in result.output
    assert (out / "report.html").exists()
    texts, inked = pdf_pages(out / "report.pdf", artifacts)
    assert len(texts) >= 2
    assert all(share > 0.01 for share in inked), inked            # no blank page
    text = flat("".join(texts))
    for expected in ("投诉举报动态", "2026年第49周", "工单总数", "+3（+150.0%）", "75.0%", "16.7%", "41.7%",
                     "乐活健身", "美美美容院", "3,000元", "健身卡能转让给别人吗", "预付卡纠纷案件（3件）"):
        assert expected in text, expected
    for secret in (SECRET_NAME, SECRET_PHONE, UNANSWERED_PHONE):
        assert secret not in text
    # the charts are in the PDF too: their axis labels are text (SVG renderer)
    assert "11-30起" in text and "11-23起" in text and "12-06" in text


def test_console_pdf_download_is_a_real_pdf(db_url, chromium_executable):
    from xiaoan.config import Settings
    from xiaoan.web.app import create_app
    from xiaoan.web.accounts import create_user

    monday = last_full_week()
    seed(db_url, monday)
    with session_scope(db_url) as db:
        create_user(db, "sue", "correct-horse-42", "supervisor", "督导员")
    app = create_app(Settings(database_url=db_url, rasa_url="http://127.0.0.1:9",
                              web_secret_key="report-tests-0123456789abcdefXYZ"), testing=True)
    client = app.test_client()
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/console/login").text).group(1)
    client.post("/console/login", data={"username": "sue", "password": "correct-horse-42", "csrf_token": token})
    response = client.get(f"/console/stats/report/weekly.pdf?week={week_code(monday)}")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf" and response.data.startswith(b"%PDF")
    assert f'filename="report-{week_code(monday)}.pdf"' in response.headers["Content-Disposition"]


def test_an_empty_database_still_gives_a_readable_report(db_url, chromium_executable, tmp_path):
    result = CliRunner().invoke(cli, ["report", "weekly", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    texts, inked = pdf_pages(tmp_path / "report.pdf")
    text = flat("".join(texts))
    assert all(share > 0.01 for share in inked), inked
    assert "工单总数0" in text and "本周没有需要预警的商家" in text and "本周没有预付卡纠纷" in text
