"""xiaoan.privacy: tables of spellings, and properties over generated numbers in generated text.

The properties run over seeded random cases (always, offline and repeatable); when hypothesis is
installed in the venv the same properties also run under it.
"""

from __future__ import annotations

import random

import pytest

from xiaoan.privacy import (
    find_personal_numbers,
    luhn_ok,
    mask_bank_card,
    mask_id_number,
    mask_name,
    mask_phone,
    mask_text,
    normalize_digits,
)

# --- what the functions already did: unchanged ------------------------------------------------------


@pytest.mark.parametrize("phone, masked", [
    ("13812345678", "138****5678"),
    ("021-61234567", "021****4567"),
    ("02161234567", "021****4567"),
    ("61234567", "****4567"),
    ("12345", "****"),
    ("", ""),
    (None, None),
])
def test_mask_phone_keeps_its_outputs(phone, masked):
    assert mask_phone(phone) == masked


@pytest.mark.parametrize("name, masked", [("张三丰", "张**"), ("张三", "张*"), ("欧阳", "欧*"), ("李", "李*"), ("", ""),
                                          (None, None)])
def test_mask_name_keeps_its_outputs(name, masked):
    assert mask_name(name) == masked


@pytest.mark.parametrize("text, masked", [
    ("我的电话13812345678", "我的电话138****5678"),
    ("电话138****5678打不通怎么办", "电话138****5678打不通怎么办"),
    ("狗狗掉毛怎么办，我电话13912345678", "狗狗掉毛怎么办，我电话139****5678"),
    ("", ""),
    (None, None),
])
def test_mask_text_keeps_its_outputs(text, masked):
    assert mask_text(text) == masked


# --- the new spellings ------------------------------------------------------------------------------

VALID_CARD_16 = "6222021234567894"     # Luhn-valid
VALID_CARD_19 = "6217001234567890122"  # Luhn-valid


@pytest.mark.parametrize("text, masked", [
    # mobiles with a country code, spaces, dashes, full-width digits
    ("我的电话是+86 138 1234 5678谢谢", "我的电话是138****5678谢谢"),
    ("+8613812345678", "138****5678"),
    ("0086-138-1234-5678", "138****5678"),
    ("(+86)13812345678", "138****5678"),
    ("（＋８６）１３８１２３４５６７８", "138****5678"),
    ("8613812345678", "138****5678"),
    ("电话１３８１２３４５６７８。", "电话138****5678。"),
    ("电话 138-1234-5678，白天打", "电话 138****5678，白天打"),
    ("电话 138 1234 5678 和 021-61234567", "电话 138****5678 和 021****4567"),
    ("手机号：１３８　１２３４　５６７８", "手机号：138****5678"),
    ("电话138－1234－5678", "电话138****5678"),
    # Shanghai landlines
    ("座机021-61234567", "座机021****4567"),
    ("座机(021)6123 4567", "座机021****4567"),
    ("座机（０２１）６１２３４５６７", "座机021****4567"),
    ("+86 21 6123 4567", "021****4567"),
    ("+86-21-61234567", "021****4567"),
    ("家里电话6123-4567", "家里电话****4567"),
    ("家里电话61234567", "家里电话****4567"),
    ("杭州0571-87654321", "杭州0571****4321"),
    # ID numbers
    ("身份证31010119900101123X", "身份证**************123X"),
    ("身份证号310101199001011234。", "身份证号**************1234。"),
    ("身份证 310101 19900101 123x", "身份证 **************123X"),
    ("身份证３１０１０１１９９００１０１１２３Ｘ", "身份证**************123X"),
    # bank cards (Luhn-valid), contiguous or grouped by four
    (f"卡号{VALID_CARD_16}", "卡号************7894"),
    ("卡号6222 0212 3456 7894", "卡号************7894"),
    ("卡号6222-0212-3456-7894", "卡号************7894"),
    (f"卡号{VALID_CARD_19}退款", "卡号***************0122退款"),
    ("卡号６２２２０２１２３４５６７８９４", "卡号************7894"),
    # all at once
    (f"张三 13812345678 31010119900101123X {VALID_CARD_16} 021-61234567",
     "张三 138****5678 **************123X ************7894 021****4567"),
])
def test_mask_text_table(text, masked):
    assert mask_text(text) == masked


@pytest.mark.parametrize("text", [
    "XA-261126-0042", "工单号XA2611260042", "退款2000元", "卡里还有两千", "2026-12-05", "20261126", "19991231",
    "12000000元", "金额 12345678.50 元", "花了35000000块", "3C认证是什么", "第1、2、3条", "价格99.9元",
    "订单号6222021234567895",        # 16 digits, Luhn fails: not a bank card
    "订单 12345678901234567890",     # 20 digits: nothing known
    "http://127.0.0.1:8000/console", "微信号wxid_abc123",
])
def test_what_is_not_personal_data_stays(text):
    assert mask_text(text) == text


@pytest.mark.parametrize("phone, masked", [
    ("+86 138 1234 5678", "138****5678"),
    ("+8613812345678", "138****5678"),
    ("0086 138-1234-5678", "138****5678"),
    ("8613812345678", "138****5678"),
    ("１３８１２３４５６７８", "138****5678"),
    ("(021)61234567", "021****4567"),
    ("+86 21 6123 4567", "021****4567"),
    ("021 6123 4567", "021****4567"),
])
def test_mask_phone_new_spellings(phone, masked):
    assert mask_phone(phone) == masked


def test_id_and_card_maskers():
    assert mask_id_number("31010119900101123x") == "**************123X"
    assert mask_id_number("310101 19900101 1234") == "**************1234"
    assert mask_bank_card("6222 0212 3456 7894") == "************7894"
    assert mask_id_number(None) is None and mask_bank_card("") == ""
    assert mask_bank_card("123") == "****"


def test_luhn():
    assert luhn_ok("4111111111111111") and luhn_ok(VALID_CARD_16) and luhn_ok(VALID_CARD_19)
    assert not luhn_ok("4111111111111112") and not luhn_ok("") and not luhn_ok("12a4")


def test_findings_name_their_kind_and_span():
    text = "电话13812345678，身份证31010119900101123X"
    kinds = [(f.kind, text[f.start:f.end], f.masked) for f in find_personal_numbers(text)]
    assert kinds == [("mobile", "13812345678", "138****5678"),
                     ("id_number", "31010119900101123X", "**************123X")]
    assert find_personal_numbers(None) == [] and find_personal_numbers("没有号码") == []


def test_normalize_keeps_length():
    text = "（＋８６）１３８－１２３４　５６７８Ｘ"
    assert normalize_digits(text) == "(+86)138-1234 5678X" and len(normalize_digits(text)) == len(text)


# --- properties over generated numbers --------------------------------------------------------------

FILLER = "我的电话是请联系谢谢地址浦东新区张杨路号室，。：；！？、 abcXYZ"
FULL_WIDTH = str.maketrans("0123456789+- ", "０１２３４５６７８９＋－\u3000")


def filler(rng: random.Random) -> str:
    return "".join(rng.choice(FILLER) for _ in range(rng.randint(0, 8)))


def mobile(rng: random.Random) -> str:
    return "1" + rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(9))


def spell_mobile(rng: random.Random, number: str) -> str:
    prefix = rng.choice(["", "", "+86", "+86 ", "+86-", "0086", "0086 ", "(+86)", "(+86) ", "86"])
    sep = rng.choice(["", " ", "-"])
    text = prefix + number[:3] + sep + number[3:7] + sep + number[7:]
    return text.translate(FULL_WIDTH) if rng.random() < 0.3 else text


def id_number(rng: random.Random) -> str:
    region = str(rng.randint(110000, 659999))
    birth = f"{rng.randint(1900, 2025)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    body = region + birth + f"{rng.randint(0, 999):03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, weights)) % 11]
    return body + (check.lower() if check == "X" and rng.random() < 0.3 else check)


def card(rng: random.Random, valid: bool = True) -> str:
    length = rng.randint(16, 19)
    body = rng.choice(["62", "4", "5"])
    body += "".join(rng.choice("0123456789") for _ in range(length - 1 - len(body)))
    check = next(d for d in "0123456789" if luhn_ok(body + d))
    if not valid:
        check = str((int(check) + rng.randint(1, 9)) % 10)
    return body + check


def spell_card(rng: random.Random, number: str) -> str:
    if rng.random() < 0.5:
        return number
    sep = rng.choice([" ", "-"])
    groups = [number[i:i + 4] for i in range(0, 16, 4)]
    return sep.join(groups) + (sep + number[16:] if len(number) > 16 else "")


def landline(rng: random.Random) -> tuple[str, str]:
    local = rng.choice("2345689") + "".join(rng.choice("0123456789") for _ in range(7))
    spelled = rng.choice(["021-{0}", "021{0}", "(021){0}", "+86 21 {0}", "021 {1} {2}", "021-{1}-{2}"]).format(
        local, local[:4], local[4:])
    return spelled, f"021****{local[-4:]}"


def check_one_number(rng: random.Random) -> None:
    kind = rng.choice(["mobile", "id", "card", "landline"])
    if kind == "mobile":
        number = mobile(rng)
        spelled, masked = spell_mobile(rng, number), f"{number[:3]}****{number[-4:]}"
        assert mask_phone(spelled) == masked
    elif kind == "id":
        number = id_number(rng)
        spelled, masked = number, "*" * 14 + number[-4:].upper()
    elif kind == "card":
        number = card(rng)
        spelled, masked = spell_card(rng, number), "*" * (len(number) - 4) + number[-4:]
    else:
        spelled, masked = landline(rng)
        number = "021" + masked[-4:]
        assert mask_phone(spelled) == masked
    before, after = filler(rng), filler(rng)
    out = mask_text(before + spelled + after)
    assert out == before + masked + after, (spelled, out)
    assert mask_text(out) == out                                   # idempotent


def check_mixture(rng: random.Random) -> None:
    """Several numbers in one text: each is found once, none survives in any spelling."""
    secrets, parts = [], []
    for _ in range(rng.randint(1, 4)):
        kind = rng.choice(["mobile", "id", "card"])
        if kind == "mobile":
            number = mobile(rng)
            parts.append(spell_mobile(rng, number))
        elif kind == "id":
            number = id_number(rng)
            parts.append(number)
        else:
            number = card(rng)
            parts.append(spell_card(rng, number))
        secrets.append(number.upper())
        parts.append(rng.choice(["，", "。", " 和 ", "；电话", "、卡号"]))
    text = "".join(parts)
    out = mask_text(text)
    compact = normalize_digits(out).replace(" ", "").replace("-", "").upper()
    for secret in secrets:
        # the hidden middle never shows with what precedes it (the middle alone may equal the kept
        # last four: 13000000000 -> 130****0000)
        assert secret not in compact and secret[:-4] not in compact, (text, out)
    assert len(find_personal_numbers(text)) == len(secrets)
    assert not find_personal_numbers(out)                          # masks are never found again


def check_plain_text(rng: random.Random) -> None:
    """Text without digits is never changed; neither are Luhn-failing 16-19 digit runs between words."""
    text = "".join(rng.choice(FILLER + "一二三四五六七八九十元块") for _ in range(rng.randint(0, 40)))
    assert mask_text(text) == text
    wrong = card(rng, valid=False)
    assert [f.kind for f in find_personal_numbers(f"订单号{wrong}号")] not in (["bank_card"],)


@pytest.mark.parametrize("seed", range(300))
def test_property_one_number_in_text(seed):
    check_one_number(random.Random(seed))


@pytest.mark.parametrize("seed", range(200))
def test_property_mixtures_leak_nothing(seed):
    check_mixture(random.Random(10_000 + seed))


@pytest.mark.parametrize("seed", range(100))
def test_property_plain_text_unchanged(seed):
    check_plain_text(random.Random(20_000 + seed))


try:  # the same properties under hypothesis, when the venv has it
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - the seeded cases above still run
    pass
else:
    @settings(max_examples=300, deadline=None)
    @given(st.randoms(use_true_random=False))
    def test_hypothesis_one_number_in_text(rng):
        check_one_number(rng)

    @settings(max_examples=200, deadline=None)
    @given(st.randoms(use_true_random=False))
    def test_hypothesis_mixtures_leak_nothing(rng):
        check_mixture(rng)

    @settings(max_examples=300, deadline=None)
    @given(st.text())
    def test_hypothesis_any_text_is_masked_without_error_and_idempotently(text):
        out = mask_text(text)
        assert isinstance(out, str) and mask_text(out) == out
