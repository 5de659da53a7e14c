"""The WeChat channel's deferred replies: how an answer reaches the citizen when WeChat cannot wait.

WeChat waits 5 seconds for the HTTP answer to a message (docs/domain.md §6). :class:`DeferredReplies`
runs the assistant's turn with a budget (about 4 s): in time, the turn's texts go back as the
passive XML reply; too slow, the webhook answers ``success`` and the texts follow through the
customer-service message API (:mod:`xiaoan.channels.wechat_api`). The state of each claimed message
(processing → passive / deferred → done, :mod:`xiaoan.channels.wechat_store`) is shared by every
process, so WeChat's retries of a message are answered from it (:meth:`DeferredReplies.answer_retry`,
:meth:`DeferredReplies.answer_repeat`) and never run the assistant twice.

:class:`WeChatOutput` collects the assistant's messages of a turn; for messages Rasa sends outside a
turn (an agent's reply, ``output_channel=wechat``) it gathers them a moment and pushes them through
the API. The input channel (:mod:`xiaoan.channels.wechat`) owns the webhook, signatures and the XML.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text

from rasa.core.channels.channel import OutputChannel, UserMessage

from xiaoan.channels import wechat_api
from xiaoan.channels import wechat_store as store
from xiaoan.channels.wechat_api import mask_openid
from xiaoan.config import Settings

logger = logging.getLogger(__name__)

CHANNEL_NAME = "wechat"


def compose(parts: List[tuple[str, List[Dict[str, Any]]]], choice_hint: str) -> tuple[List[str], List[Dict[str, str]]]:
    """Turn the assistant's messages of one turn into WeChat texts and the numbered choices.

    Buttons become lines ``1. 标题`` under the choice hint, numbered across the turn.

    Returns:
        The texts merged into as few messages as fit WeChat's limit, and the choices.
    """
    texts: List[str] = []
    choices: List[Dict[str, str]] = []
    for text, buttons in parts:
        block = text.strip() if text else ""
        titled = [b for b in buttons or [] if isinstance(b, dict) and str(b.get("title") or "").strip()]
        if titled:
            lines = [choice_hint]
            for button in titled:
                title = str(button["title"]).strip()
                choices.append({"title": title, "payload": str(button.get("payload") or title)})
                lines.append(f"{len(choices)}. {title}")
            block = f"{block}\n\n" + "\n".join(lines) if block else "\n".join(lines)
        if block:
            texts.append(block)
    return wechat_api.merge_texts(texts), choices


class Exchange:
    """One HTTP exchange with WeChat; `abandoned` once WeChat hung up (after its 5 s)."""

    __slots__ = ("abandoned",)

    def __init__(self) -> None:
        self.abandoned = False


class WeChatOutput(OutputChannel):
    """Sends the assistant's messages to a WeChat citizen.

    During a webhook turn (``push=False``) the messages are collected and the input channel
    answers with them passively or through the customer-service API. For messages Rasa sends
    outside a turn (``output_channel=wechat`` on Rasa's HTTP API) (``push=True``) they are
    gathered for a moment, merged and sent through the customer-service API.
    """

    def __init__(self, replies: "DeferredReplies", *, push: bool = False) -> None:
        self._replies = replies
        self.push = push
        self.parts: List[tuple[str, str, List[Dict[str, Any]]]] = []
        self._flush_task: Optional[asyncio.Task] = None

    @classmethod
    def name(cls) -> Text:
        return CHANNEL_NAME

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        self._add(recipient_id, text, [])

    async def send_text_with_buttons(
        self, recipient_id: Text, text: Text, buttons: List[Dict[Text, Any]], **kwargs: Any
    ) -> None:
        self._add(recipient_id, text, buttons)

    async def send_quick_replies(
        self, recipient_id: Text, text: Text, quick_replies: List[Dict[Text, Any]], **kwargs: Any
    ) -> None:
        self._add(recipient_id, text, quick_replies)

    async def send_image_url(self, recipient_id: Text, image: Text, **kwargs: Any) -> None:
        self._add(recipient_id, image, [])  # WeChat shows a bare URL as a link

    async def send_attachment(self, recipient_id: Text, attachment: Any, **kwargs: Any) -> None:
        self._add(recipient_id, attachment if isinstance(attachment, str) else "", [])

    async def send_custom_json(self, recipient_id: Text, json_message: Dict[Text, Any], **kwargs: Any) -> None:
        logger.debug("custom payload dropped: the WeChat channel sends text only")

    def compose(self, recipient_id: Optional[str] = None) -> tuple[List[str], List[Dict[str, str]]]:
        """The collected messages (for `recipient_id`, default all) as WeChat texts and choices."""
        parts = [(text, buttons) for rid, text, buttons in self.parts if recipient_id is None or rid == recipient_id]
        return compose(parts, self._replies.texts.choice_hint)

    def _add(self, recipient_id: str, text: Optional[str], buttons: List[Dict[str, Any]]) -> None:
        self.parts.append((recipient_id, text or "", list(buttons or [])))
        if self.push and (self._flush_task is None or self._flush_task.done()):
            self._flush_task = self._replies.spawn(self._flush_later())

    async def _flush_later(self) -> None:
        """Push mode: wait for the rest of the messages, then send them merged."""
        replies = self._replies
        while self.parts:
            await asyncio.sleep(replies.push_delay)
            parts, self.parts = self.parts, []
            for recipient in dict.fromkeys(rid for rid, _, _ in parts):
                texts, choices = compose([(t, b) for rid, t, b in parts if rid == recipient], replies.texts.choice_hint)
                if choices:
                    await replies.db(store.save_choices, recipient, choices)
                if texts:
                    await replies.deliver(recipient, texts, wechat_api.SOURCE_PUSH)


class DeferredReplies:
    """Runs a turn within the reply budget and delivers late answers through the API.

    Args:
        settings: The channel's settings (database, WeChat API credentials).
        texts: The channel's own texts (``choice_hint``, ``error``; see `wechat.ChannelTexts`).
        reply_budget: Seconds the assistant gets before WeChat is answered ``success`` and the
            answer goes through the customer-service API (WeChat waits 5).
        push_delay: Seconds messages pushed outside a turn are gathered before sending.
        poll_interval: Seconds between checks while a retry waits for the first delivery.
    """

    def __init__(self, settings: Settings, texts: Any, *, reply_budget: float = 4.0, push_delay: float = 0.3,
                 poll_interval: float = 0.2) -> None:
        self.settings = settings
        self.texts = texts
        self.reply_budget = reply_budget
        self.push_delay = push_delay
        self.poll_interval = poll_interval
        self._tasks: set[asyncio.Task] = set()

    # ------------------------------------------------------------ plumbing

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task:
        """Run a background coroutine, keeping a reference until it ends."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("WeChat background task failed", exc_info=task.exception())

    async def db(self, function: Callable[..., Any], *args: Any) -> Any:
        """Call a :mod:`wechat_store` function on the channel's database in a worker thread."""
        return await asyncio.to_thread(function, self.settings.database_url, *args)

    async def deliver(self, openid: str, texts: List[str], source: str) -> wechat_api.DeliveryResult:
        """Send texts through the customer-service API (budgeted; failures recorded)."""
        client = wechat_api.get_client(self.settings)
        return await asyncio.to_thread(
            wechat_api.deliver_texts, openid, texts, source=source, client=client, settings=self.settings
        )

    async def idle(self, timeout: float = 10.0) -> None:
        """Wait until the background work (late answers, pushes) is finished (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while self._tasks and time.monotonic() < deadline:
            await asyncio.wait(set(self._tasks), timeout=max(0.0, deadline - time.monotonic()))

    # ------------------------------------------------------------ retries of a claimed message

    async def answer_repeat(self, key: str, openid: str) -> None:
        """A request repeated byte for byte (same signed query string): run nothing, reply nothing.

        WeChat repeats a request only when it got no answer. An answer still being produced is
        moved to the customer-service API; a passive reply already given (and so lost) is sent
        again through the API, once, to the message's own sender (`openid`).
        """
        state = await self.db(store.message_state, key)
        if state is None:
            return
        status, reply = state
        if status == store.STATUS_PROCESSING:
            await self.db(store.transition_message, key, store.STATUS_PROCESSING, store.STATUS_DEFERRED)
        elif status == store.STATUS_PASSIVE and reply:
            if await self.db(store.transition_message, key, store.STATUS_PASSIVE, store.STATUS_DONE):
                self.spawn(self.deliver(openid, [reply], wechat_api.SOURCE_ASSISTANT))

    async def reply_fixed(self, key: str, text: str) -> str:
        """Answer a claimed message with a text of the channel's own (passively)."""
        await self.db(store.transition_message, key, store.STATUS_PROCESSING, store.STATUS_PASSIVE, text)
        return text

    async def answer_retry(self, key: str) -> Optional[str]:
        """Answer WeChat's retry of a claimed message without running the assistant again.

        The stored passive reply is sent again (WeChat did not get it); a message answered
        through the API gets ``success``; while the first delivery is still running the retry
        waits for it up to the reply budget, then hands the answer over to the API.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.reply_budget
        while True:
            state = await self.db(store.message_state, key)
            if state is None:
                return None
            status, reply = state
            if status == store.STATUS_PASSIVE:
                return reply
            if status != store.STATUS_PROCESSING:
                return None
            if loop.time() >= deadline:
                if await self.db(store.transition_message, key, store.STATUS_PROCESSING, store.STATUS_DEFERRED):
                    return None
                continue
            await asyncio.sleep(self.poll_interval)

    # ------------------------------------------------------------ one turn

    async def run_turn(
        self,
        key: str,
        openid: str,
        text: str,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        metadata: Dict[str, Any],
        exchange: Exchange,
        notice: Optional[str] = None,
    ) -> Optional[str]:
        """Run the assistant; the passive reply if it answers within the budget, else None.

        A `notice` (the message was cut) goes first, in the same reply.
        """
        output = WeChatOutput(self)
        if notice:
            output.parts.append((openid, notice, []))
        user_message = UserMessage(
            text, output, openid, input_channel=CHANNEL_NAME, message_id=key, metadata=metadata
        )
        task = asyncio.ensure_future(self._run_assistant(on_new_message, user_message))
        done, _ = await asyncio.wait({task}, timeout=self.reply_budget)
        if task not in done:
            logger.info(
                "assistant slower than %.1fs for %s: acknowledged, the answer follows through the API",
                self.reply_budget,
                mask_openid(openid),
            )
            await self.db(store.transition_message, key, store.STATUS_PROCESSING, store.STATUS_DEFERRED)
            self.spawn(self._finish_late(task, key, openid, output))
            return None

        texts = await self._finish_turn(openid, output, ok=task.result())
        if not texts:
            await self.db(store.transition_message, key, store.STATUS_PROCESSING, store.STATUS_DONE)
            return None
        if exchange.abandoned:  # nobody is listening for a passive reply any more
            await self.db(store.transition_message, key, store.STATUS_PROCESSING, store.STATUS_DEFERRED)
            self.spawn(self._deliver_deferred(key, openid, texts))
            return None
        if await self.db(store.transition_message, key, store.STATUS_PROCESSING, store.STATUS_PASSIVE, texts[0]):
            if len(texts) > 1:  # longer than one message: the rest through the API
                self.spawn(self.deliver(openid, texts[1:], wechat_api.SOURCE_ASSISTANT))
            return texts[0]
        # A retry took the message over meanwhile (it answered WeChat "success"): use the API.
        self.spawn(self._deliver_deferred(key, openid, texts))
        return None

    async def _run_assistant(self, on_new_message: Callable[[UserMessage], Awaitable[Any]], message: UserMessage) -> bool:
        try:
            await on_new_message(message)
            return True
        except Exception:
            logger.exception("the assistant failed on a WeChat message from %s", mask_openid(message.sender_id))
            return False

    async def _finish_turn(self, openid: str, output: WeChatOutput, ok: bool) -> List[str]:
        """The turn's texts; remembers its numbered choices (forgets older ones)."""
        texts, choices = output.compose()
        if not ok:
            texts = wechat_api.merge_texts([*texts, self.texts.error])
        await self.db(store.save_choices, openid, choices)
        return texts

    async def _finish_late(self, task: asyncio.Task, key: str, openid: str, output: WeChatOutput) -> None:
        texts = await self._finish_turn(openid, output, ok=await task)
        await self._deliver_deferred(key, openid, texts)

    async def _deliver_deferred(self, key: str, openid: str, texts: List[str]) -> None:
        if texts:
            await self.deliver(openid, texts, wechat_api.SOURCE_ASSISTANT)
        await self.db(store.transition_message, key, store.STATUS_DEFERRED, store.STATUS_DONE)
