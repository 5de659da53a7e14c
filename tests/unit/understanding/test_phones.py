"""Phones: mobile numbers and Shanghai landlines, whole answers and inside sentences."""

from __future__ import annotations

import pytest

from xiaoan.understanding.phones import find_phone, find_phone_span, normalize_phone, parse_phone


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("13812345678", "13812345678"),
        ("138 1234 5678", "13812345678"),
        ("138-1234-5678", "13812345678"),
        ("138.1234.5678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("+8613812345678", "13812345678"),
        ("008613812345678", "13812345678"),
        ("8613812345678", "13812345678"),
        ("１３８１２３４５６７８", "13812345678"),
        ("１３８　１２３４　５６７８", "13812345678"),
        ("一三八一二三四五六七八", "13812345678"),
        ("幺三八 幺二三四 五六七八", "13812345678"),
        ("幺八六洞洞洞洞幺幺幺幺", "18600001111"),
        ("一三九零零零零一一一一", "13900001111"),
        ("021-61234567", "02161234567"),
        ("021 6123 4567", "02161234567"),
        ("(021)61234567", "02161234567"),
        ("（021）61234567", "02161234567"),
        ("02161234567", "02161234567"),
        ("61234567", "02161234567"),
        ("6123-4567", "02161234567"),
        ("+86 21 6123 4567", "02161234567"),
        ("手机：13812345678", "13812345678"),
        ("我的手机号是138 1234 5678。", "13812345678"),
        ("电话是021-61234567", "02161234567"),
        ("座机 61234567", "02161234567"),
        ("嗯，13812345678", "13812345678"),
    ],
)
def test_parse_phone_accepts(text, expected):
    assert parse_phone(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "", None, "12345678901", "1381234567", "138123456789", "010-61234567", "0571-61234567",
        "01234567", "6123456", "400-820-8820", "800-820-8820", "4008208820", "abc", "好的", "没有",
        "一三八", "三百块", "李明13812345678",  # a name beside it: not a bare answer
        "13812345678和13900001111",
    ],
)
def test_parse_phone_refuses(text):
    assert parse_phone(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我的电话是138 1234 5678，白天都在", "13812345678"),
        ("手机：+86-139-0000-1111", "13900001111"),
        ("座机021-61234567，工作日打", "02161234567"),
        ("2000元 13812345678", "13812345678"),
        ("打这个13812345678或者61234567都行", "13812345678"),
        ("我是李娜，电话幺三八一二三四五六七八", "13812345678"),
        ("联系我１３９００００１１１１", "13900001111"),
        ("没有电话", None),
        ("订单号123456789012345678", None),
        ("卡里还有两千，三月五号办的", None),
        ("", None),
    ],
)
def test_find_phone_inside_a_sentence(text, expected):
    assert find_phone(text) == expected


def test_find_phone_span_gives_offsets_into_the_original_text():
    text = "我是李娜，电话１３８ １２３４ ５６７８，谢谢"
    number, start, end = find_phone_span(text)
    assert number == "13812345678"
    assert text[start:end] == "１３８ １２３４ ５６７８"
    text = "李明 幺三八幺二三四五六七八"
    number, start, end = find_phone_span(text)
    assert (number, text[:start].strip()) == ("13812345678", "李明")


def test_normalize_phone_refuses_text_around_the_number():
    assert normalize_phone("电话13812345678") is None
