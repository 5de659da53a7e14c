"""Strict reading of the XML WeChat posts to the channel (security issue 12, item 2).

WeChat's messages are small and flat: ``<xml><FromUserName>…</FromUserName>…</xml>``. This
module reads them without trusting them:

- the body must be UTF-8 and at most :data:`MAX_BODY_BYTES` (the channel answers 413 above,
  before reading further);
- no DTD, no entity declarations, no external entities (XML bombs and XXE are refused, not
  expanded): expat is driven directly with those handlers raising;
- at most :data:`MAX_DEPTH` levels and :data:`MAX_ELEMENTS` elements;
- the fields the channel reads are flat strings, appear once, and have the shape WeChat gives
  them (``FromUserName`` an openid, ``CreateTime`` seconds since 1970 within a sane range,
  ``MsgId`` a 64-bit number, ...); no field holds a NUL or another control character, a lone
  surrogate or a non-character.

Anything else raises :class:`MalformedMessage` with a short English reason for the log; the
channel answers it with HTTP 400. :func:`to_wechatpy` then builds wechatpy's message object
from the checked fields (the same classes :func:`wechatpy.parse_message` picks).
"""

from __future__ import annotations

import re
from typing import Any, Dict, Optional, Union
from xml.parsers import expat

from wechatpy.events import EVENT_TYPES
from wechatpy.messages import MESSAGE_TYPES, UnknownMessage

MAX_BODY_BYTES = 64 * 1024  # WeChat's messages are a few KB; the reverse proxy uses the same cap
MAX_DEPTH = 6  # <xml> / field / … : menu events (pic_sysphoto) nest four levels
MAX_ELEMENTS = 256
MAX_CREATE_TIME = 4_102_444_800  # 2100-01-01: anything later is not a WeChat timestamp
MAX_MSG_ID = 2**64 - 1

#: Fields the channel reads: each must be a single flat string when present.
READ_FIELDS = (
    "ToUserName",
    "FromUserName",
    "CreateTime",
    "MsgType",
    "MsgId",
    "Content",
    "Recognition",
    "Event",
    "EventKey",
    "Encrypt",
)

_OPENID = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)
_MSG_TYPE = re.compile(r"[A-Za-z_]{1,32}", re.ASCII)
_DIGITS = re.compile(r"[0-9]{1,20}", re.ASCII)
_EVENT = re.compile(r"[A-Za-z0-9_]{1,64}", re.ASCII)
_BASE64 = re.compile(r"[A-Za-z0-9+/=]{1,87400}", re.ASCII)
# C0 controls except tab, line feed, carriage return; DEL and C1 controls; surrogates; non-characters.
_FORBIDDEN_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")


class MalformedMessage(ValueError):
    """The body is not a WeChat message this channel accepts (answered with HTTP 400)."""


class _Nested:
    """Marks a field that holds elements instead of text (menu events' ``SendPicsInfo`` …)."""

    def __repr__(self) -> str:
        return "<nested>"


NESTED = _Nested()

FieldValue = Union[str, _Nested]


def _refuse(reason: str):
    def handler(*_args: Any) -> None:
        raise MalformedMessage(reason)

    return handler


def parse_xml(data: Union[bytes, str]) -> Dict[str, FieldValue]:
    """The top-level fields of a WeChat XML document.

    Args:
        data: The body (bytes) or an already decrypted document (str).

    Returns:
        Field name → text (``""`` for an empty element) or :data:`NESTED`.

    Raises:
        MalformedMessage: Not UTF-8, too large, not XML, a DTD or entity, too deep, a field twice,
            text outside the fields, or a forbidden character.
    """
    if isinstance(data, str):
        try:
            data = data.encode("utf-8")
        except UnicodeEncodeError as exc:  # lone surrogates in a decrypted str
            raise MalformedMessage("not encodable as UTF-8") from exc
    if not isinstance(data, (bytes, bytearray)):
        raise MalformedMessage("body is not bytes")
    if len(data) > MAX_BODY_BYTES:
        raise MalformedMessage("body too large")
    try:
        bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedMessage("body is not UTF-8") from exc

    parser = expat.ParserCreate(encoding="UTF-8")  # ignores a declared encoding: UTF-8 only
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse("DTD refused")
    parser.EntityDeclHandler = _refuse("entity declaration refused")
    parser.UnparsedEntityDeclHandler = _refuse("entity declaration refused")
    parser.NotationDeclHandler = _refuse("notation declaration refused")
    parser.ExternalEntityRefHandler = _refuse("external entity refused")
    parser.SkippedEntityHandler = _refuse("entity reference refused")
    parser.buffer_text = True

    fields: Dict[str, FieldValue] = {}
    state: Dict[str, Any] = {"depth": 0, "elements": 0, "root": None, "field": None, "text": []}

    def start(name: str, _attrs: Any) -> None:
        state["depth"] += 1
        state["elements"] += 1
        depth = state["depth"]
        if depth > MAX_DEPTH:
            raise MalformedMessage("too deeply nested")
        if state["elements"] > MAX_ELEMENTS:
            raise MalformedMessage("too many elements")
        if depth == 1:
            if name != "xml":
                raise MalformedMessage("root element is not <xml>")
            state["root"] = name
        elif depth == 2:
            if name in fields:
                raise MalformedMessage(f"field {name[:40]} given twice")
            state["field"] = name
            state["text"] = []
        elif depth == 3:
            fields[state["field"]] = NESTED

    def end(_name: str) -> None:
        if state["depth"] == 2:
            name = state["field"]
            if fields.get(name) is not NESTED:
                fields[name] = "".join(state["text"])
            state["field"] = None
        state["depth"] -= 1

    def chars(text: str) -> None:
        depth = state["depth"]
        if depth == 2:
            state["text"].append(text)
        elif depth == 1 and text.strip():
            raise MalformedMessage("text outside the fields")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    try:
        parser.Parse(bytes(data), True)
    except expat.ExpatError as exc:
        raise MalformedMessage(f"not XML ({expat.ErrorString(exc.code)})") from exc
    except RecursionError as exc:  # pragma: no cover - the depth cap comes first
        raise MalformedMessage("too deeply nested") from exc
    if state["root"] is None:
        raise MalformedMessage("no <xml> element")
    for name, value in fields.items():
        if isinstance(value, str) and _FORBIDDEN_CHARS.search(value):
            raise MalformedMessage(f"forbidden character in {name[:40]}")
        if _FORBIDDEN_CHARS.search(name):  # pragma: no cover - expat refuses such names
            raise MalformedMessage("forbidden character in a field name")
    return fields


def _flat(fields: Dict[str, FieldValue], name: str) -> Optional[str]:
    value = fields.get(name)
    if value is NESTED:
        raise MalformedMessage(f"{name} is not a flat string")
    return value  # type: ignore[return-value]


def read_envelope(data: Union[bytes, str]) -> str:
    """The ``Encrypt`` field of a safe-mode body (base64 text)."""
    fields = parse_xml(data)
    encrypt = _flat(fields, "Encrypt")
    if not encrypt or not _BASE64.fullmatch(encrypt.strip()):
        raise MalformedMessage("Encrypt missing or not base64")
    return encrypt.strip()


def read_message(data: Union[bytes, str]) -> Dict[str, str]:
    """The checked fields of a plaintext (or decrypted) WeChat message.

    Returns:
        The fields as strings (nested, unread fields are dropped); ``MsgType`` lower-cased.

    Raises:
        MalformedMessage: Any rule of this module broken.
    """
    fields = parse_xml(data)
    for name in READ_FIELDS:
        _flat(fields, name)
    checked: Dict[str, str] = {k: v for k, v in fields.items() if isinstance(v, str)}

    source = checked.get("FromUserName", "").strip()
    if not _OPENID.fullmatch(source):
        raise MalformedMessage("FromUserName missing or not an openid")
    target = checked.get("ToUserName", "").strip()
    if not _OPENID.fullmatch(target):
        raise MalformedMessage("ToUserName missing or malformed")
    msg_type = checked.get("MsgType", "").strip()
    if not _MSG_TYPE.fullmatch(msg_type):
        raise MalformedMessage("MsgType missing or malformed")
    create_time = checked.get("CreateTime", "").strip()
    if not _DIGITS.fullmatch(create_time) or not 0 < int(create_time) <= MAX_CREATE_TIME:
        raise MalformedMessage("CreateTime missing or out of range")
    msg_id = checked.get("MsgId")
    if msg_id is not None:
        msg_id = msg_id.strip()
        if not _DIGITS.fullmatch(msg_id) or int(msg_id) > MAX_MSG_ID:
            raise MalformedMessage("MsgId is not a 64-bit number")
        checked["MsgId"] = msg_id
    event = checked.get("Event")
    if msg_type.lower() == "event" and (event is None or not _EVENT.fullmatch(event.strip())):
        raise MalformedMessage("Event missing or malformed")
    checked.update(FromUserName=source, ToUserName=target, MsgType=msg_type.lower(), CreateTime=create_time)
    if event is not None:
        checked["Event"] = event.strip()
    return checked


def to_wechatpy(fields: Dict[str, str]) -> Any:
    """wechatpy's message or event object for checked fields (as :func:`wechatpy.parse_message`)."""
    message = dict(fields)
    message_type = message["MsgType"]
    if message_type == "event" or message_type.startswith("device_"):
        event_type = message["Event"].lower() if "Event" in message else None
        if event_type is None and message_type.startswith("device_"):
            event_type = message_type
        elif message_type.startswith("device_"):
            event_type = f"device_{event_type}"
        event_key = message.get("EventKey") or ""
        if event_type == "subscribe" and event_key:
            if event_key.startswith(("scanbarcode|", "scanimage|")):
                event_type = "subscribe_scan_product"
                message["Event"] = event_type
            elif event_key.startswith("qrscene_"):
                event_type = "subscribe_scan"
                message["Event"] = event_type
                message["EventKey"] = event_key[len("qrscene_") :]
        message_class = EVENT_TYPES.get(event_type, UnknownMessage)
    else:
        message_class = MESSAGE_TYPES.get(message_type, UnknownMessage)
    return message_class(message)
