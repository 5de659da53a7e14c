"""The strict WeChat XML reader (xiaoan/channels/wechat_xml.py): what real WeChat sends passes,
what it never sends is refused with MalformedMessage (the channel's 400)."""

from __future__ import annotations

import pytest

from tests.fakes.wechat_server import event_xml, image_xml, text_xml, voice_xml
from xiaoan.channels import wechat_xml
from xiaoan.channels.wechat_xml import NESTED, MalformedMessage, parse_xml, read_envelope, read_message, to_wechatpy

OPENID = "oXiaoAn_citizen_000000000001"

PIC_SYSPHOTO = f"""<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName>
<FromUserName><![CDATA[{OPENID}]]></FromUserName><CreateTime>1796000000</CreateTime>
<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[pic_sysphoto]]></Event><EventKey><![CDATA[6]]></EventKey>
<SendPicsInfo><Count>1</Count><PicList><item><PicMd5Sum><![CDATA[1b5f7c23b5bf75682a53e7b6d163e185]]></PicMd5Sum>
</item></PicList></SendPicsInfo></xml>"""


def test_real_messages_are_read_as_wechatpy_objects():
    text = to_wechatpy(read_message(text_xml(OPENID, "你好 <b>&amp;", msg_id=18446744073709551615)))
    assert (text.type, text.source, text.content, text.id) == ("text", OPENID, "你好 <b>&amp;", 2**64 - 1)
    voice = to_wechatpy(read_message(voice_xml(OPENID, 2, recognition="电梯困人")))
    assert (voice.type, voice.recognition) == ("voice", "电梯困人")
    assert to_wechatpy(read_message(image_xml(OPENID, 3))).type == "image"
    scan = to_wechatpy(read_message(event_xml(OPENID, "subscribe", 1_796_000_000, "qrscene_42")))
    assert (scan.type, scan.event, scan.scene_id) == ("event", "subscribe_scan", "42")
    assert to_wechatpy(read_message(event_xml(OPENID, "unsubscribe", 1_796_000_000))).event == "unsubscribe"


def test_nested_fields_the_channel_does_not_read_are_allowed():
    fields = parse_xml(PIC_SYSPHOTO)
    assert fields["SendPicsInfo"] is NESTED
    message = read_message(PIC_SYSPHOTO)
    assert "SendPicsInfo" not in message and message["Event"] == "pic_sysphoto"
    assert to_wechatpy(message).type == "event"


@pytest.mark.parametrize(
    "xml, reason",
    [
        ("<xml>" + "<a>" * 6 + "</a>" * 6 + "</xml>", "too deeply nested"),
        ("<xml><a>" + "<b/>" * 300 + "</a></xml>", "too many elements"),
        ("<xml>loose text<a>1</a></xml>", "text outside the fields"),
        ('<!DOCTYPE xml [<!ENTITY % p SYSTEM "http://example.invalid/">%p;]><xml/>', "DTD refused"),
        ("<xml><a>1</a></xml><xml/>", "not XML"),
    ],
    ids=["depth", "elements", "loose-text", "parameter-entity", "two-roots"],
)
def test_structure_rules(xml, reason):
    """Each rule on its own (ids would be the whole XML; the reason names the rule)."""
    with pytest.raises(MalformedMessage, match=reason):
        parse_xml(xml)


def test_a_body_over_the_cap_is_refused_before_parsing():
    with pytest.raises(MalformedMessage, match="too large"):
        parse_xml(b"<xml>" + b" " * wechat_xml.MAX_BODY_BYTES + b"</xml>")


def test_whitespace_around_values_is_tolerated_where_wechat_puts_none():
    xml = text_xml(OPENID, "  你好  ", msg_id=5).replace(f"<FromUserName>{OPENID}", f"<FromUserName> {OPENID}\n")
    fields = read_message(xml)
    assert fields["FromUserName"] == OPENID and fields["Content"] == "  你好  "  # the text is the citizen's


def test_envelopes_need_a_base64_encrypt_field():
    assert read_envelope("<xml><ToUserName>gh_1</ToUserName><Encrypt>QUJD+/=</Encrypt></xml>") == "QUJD+/="
    for bad in ("<xml><ToUserName>gh_1</ToUserName></xml>", "<xml><Encrypt>not base64!</Encrypt></xml>",
                "<xml><Encrypt><x>QUJD</x></Encrypt></xml>"):
        with pytest.raises(MalformedMessage):
            read_envelope(bad)
