"""Image messages on WeChat as evidence (issue 15).

An image a citizen sends while a complaint or report form runs (the Rasa tracker's active loop)
is fetched through the media API (``/cgi-bin/media/get``, :meth:`WeChatApiClient.get_media`) and
attached like a web upload (:mod:`xiaoan.tickets.attachments`: sniffed, re-encoded without EXIF,
stored under a random name, at most 10 MB and 9 per ticket). The citizen gets a passive reply:
the file was received (how many so far), or why not (domain.yml ``utter_attach_*``). Outside a
form the channel answers as before (the "unsupported message" text).

The image does not go to Rasa as a message: the form keeps waiting for its answer.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any, Optional

from xiaoan import texts
from xiaoan.channels import wechat_api
from xiaoan.channels.names import WECHAT
from xiaoan.channels.wechat_api import MediaTooLarge, WeChatApiError, WeChatTransportError, mask_openid
from xiaoan.tickets import attachments as evidence

logger = logging.getLogger(__name__)

_MEDIA_ID = re.compile(r"[A-Za-z0-9_-]{1,128}", re.ASCII)


async def form_running(agent: Any, conversation_id: str) -> bool:
    """Whether the conversation's tracker (Rasa's tracker store) has a complaint or report form active."""
    tracker_store = getattr(agent, "tracker_store", None)
    if tracker_store is None:
        return False
    try:
        tracker = await tracker_store.retrieve(conversation_id)
    except Exception as exc:  # noqa: BLE001 - no tracker, no attachment: the channel answers as before
        logger.warning("WeChat: tracker of %s not readable (%s)", mask_openid(conversation_id), exc.__class__.__name__)
        return False
    return tracker is not None and getattr(tracker, "active_loop_name", None) in evidence.FORMS


def image_name(message: Any) -> str:
    """The name an image from WeChat is listed under (the message id; the extension follows the type)."""
    return f"wechat-{message.id or message.time}"


async def attach_image(channel: Any, message: Any, agent: Any) -> Optional[str]:
    """The passive reply to an image message during a form, or None when no form runs (the
    channel then answers as for any unsupported message)."""
    openid = message.source
    if not await form_running(agent, openid):
        return None
    settings = evidence.settings_for(channel.database_url)
    store = evidence.AttachmentStore(settings)
    name = evidence.given_name(image_name(message))
    client = wechat_api.get_client(channel.settings)
    media_id = getattr(message, "media_id", None) or ""
    if client is None or not _MEDIA_ID.fullmatch(media_id):
        logger.warning("WeChat image from %s not fetched: %s", mask_openid(openid),
                       "no API credentials" if client is None else "no MediaId")
        return texts.text("utter_attach_wechat_fetch_failed")
    try:
        if await asyncio.to_thread(store.pending_count, openid) >= evidence.MAX_PER_TICKET:
            raise evidence.AttachmentRejected("too_many", name)
        data = await asyncio.to_thread(client.get_media, media_id, max_bytes=evidence.MAX_BYTES)
        info = await asyncio.to_thread(store.add, openid, WECHAT, image_name(message), data)
        count = len(await asyncio.to_thread(store.pending, openid))
    except MediaTooLarge:
        return evidence.AttachmentRejected("too_big", name).message()
    except evidence.AttachmentRejected as refusal:
        logger.info("WeChat image from %s refused: %s", mask_openid(openid), refusal.reason)
        return refusal.message()
    except (WeChatApiError, WeChatTransportError) as exc:
        logger.warning("WeChat image from %s not fetched: %s", mask_openid(openid), exc)
        return texts.text("utter_attach_wechat_fetch_failed")
    logger.info("WeChat image from %s attached (%d so far)", mask_openid(openid), count)
    return evidence.fill(texts.text("utter_attach_received"), name=info.name, count=count)
