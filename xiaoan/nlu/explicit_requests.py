"""An explicit request for a person is always honoured, wherever it stands in a message.

"我在徐汇一家美容院办了五千块的卡 现在店关门了 我要找人工" is a complaint to the intent
classifier, and it would start the complaint form; the citizen asked for a person. This
component runs after the classifiers and before the FallbackClassifier. The other way round, a
message that turns a person down (不用转人工) is never `request_human`: it becomes `deny`.
When the text carries
an explicit request for a human (``xiaoan.understanding.interruptions.wants_human``: 转人工,
找人工, 人工客服, 我要找真人 …, but not 不用转人工 or 人工智能), the intent becomes
``request_human``; the classifier's own ranking follows, so nothing it saw is lost, and the
message stays in the conversation for the agent to read.

The same deterministic layer corrects a few readings that a lexical cue settles better than
the classifier's borderline confidence (`xiaoan.understanding.interruptions` holds the cues):

- a give-up read as a filing (不想投诉这个商家了) becomes `cancel`;
- a stated wish to file read as a question or an answer (退款纠纷想投诉) becomes a filing;
- a "what can I do" question read as a filing (卖家不发货咋办) becomes the best question intent of
  the ranking: asking what to do is not asking the bureau to act (data/nlu/questions.yml);
- a question about special equipment or measuring instruments read as business registration
  (锅炉多久要检测一次) becomes `ask_regulation`.
"""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from xiaoan.understanding.interruptions import (
    asks_about_regulated_equipment,
    asks_what_to_do,
    declines_human,
    explicit_interruption,
    wants_human,
    wants_to_file,
)

#: Marks a message whose intent this component set (for logs and tests).
OVERRIDE_KEY = "explicit_request"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class ExplicitRequestClassifier(GraphComponent):
    """Sets `request_human` when a message explicitly asks for a person."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """`intent`: the intent set; `confidence`: its confidence."""
        return {"intent": "request_human", "confidence": 0.99}

    def __init__(self, config: Dict[Text, Any]) -> None:
        self.intent = str(config.get("intent") or "request_human")
        self.confidence = float(config.get("confidence", 0.99))

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "ExplicitRequestClassifier":
        """A new component (it has nothing to train)."""
        return cls(config)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Training data passes through unchanged."""
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        """Override the intent of messages that explicitly ask for a person, or turn one down."""
        for message in messages:
            text = message.get(TEXT) or ""
            if not text or text.startswith("/"):
                continue
            if declines_human(text):
                self._decline(message)
                continue
            if self._gives_up(text, message):
                continue
            if not wants_human(text):
                if not self._files(text, message) and not self._asks_what_to_do(text, message):
                    self._asks_about_equipment(text, message)
                continue
            if (message.get(INTENT) or {}).get(INTENT_NAME_KEY) != self.intent:
                self._replace(message, self.intent)
        return messages

    #: A short message that gives a complaint or report up (不想投诉这个商家了) must never start one.
    GIVE_UP_MAX_CHARS = 20
    FILING_INTENTS = ("complain_refund", "complain_prepaid", "complain_general", "report_violation")

    def _gives_up(self, text: Text, message: Message) -> bool:
        """不投诉了 read as a complaint: it becomes `cancel` (the lexical cue decides, see
        `xiaoan.understanding.interruptions`); True when the message was changed."""
        previous = message.get(INTENT) or {}
        if (previous.get(INTENT_NAME_KEY) not in self.FILING_INTENTS or len(text) > self.GIVE_UP_MAX_CHARS
                or explicit_interruption(text) != "cancel"):
            return False
        self._replace(message, "cancel")
        return True

    #: Intents a stated wish to file overrides: questions, fallbacks and bare answers, not a
    #: filing, a person, a cancel or a status look-up.
    OVERRIDABLE = ("ask_business_registration", "ask_consumer_rights", "ask_regulation", "nlu_fallback",
                   "out_of_scope", "inform", "affirm", "deny", "greet", "thank", "goodbye")

    def _files(self, text: Text, message: Message) -> bool:
        """"退款纠纷想投诉" read as a question: the best filing intent of the ranking (a report for 举报);
        True when the message was changed."""
        previous = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
        kind = wants_to_file(text)
        if kind is None or previous not in self.OVERRIDABLE:
            return False
        wanted = ("report_violation",) if kind == "report" else self.FILING_INTENTS[:3]
        ranked = [r.get(INTENT_NAME_KEY) for r in message.get(INTENT_RANKING_KEY) or []]
        best = next((name for name in ranked if name in wanted), wanted[-1] if kind == "complaint" else wanted[0])
        self._replace(message, best)
        return True

    #: What a "what can I do" question may become: an answer, not a filing. The first of these in
    #: the classifier's ranking wins; without one, a consumer-rights question for a complaint and a
    #: regulation question for a report.
    QUESTION_INTENTS = ("ask_consumer_rights", "ask_regulation", "ask_business_registration", "out_of_scope")

    def _asks_what_to_do(self, text: Text, message: Message) -> bool:
        """"卖家不发货咋办" read as a filing: the best question intent of the ranking; True when the
        message was changed."""
        previous = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
        if previous not in self.FILING_INTENTS or not asks_what_to_do(text):
            return False
        ranked = [r.get(INTENT_NAME_KEY) for r in message.get(INTENT_RANKING_KEY) or []]
        default = "ask_regulation" if previous == "report_violation" else "ask_consumer_rights"
        best = next((name for name in ranked if name in self.QUESTION_INTENTS), default)
        self._replace(message, best)
        return True

    def _asks_about_equipment(self, text: Text, message: Message) -> bool:
        """"锅炉多久要检测一次" read as a registration question: `ask_regulation` (special equipment and
        measuring instruments are never a registration matter); True when the message was changed."""
        previous = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
        if previous != "ask_business_registration" or not asks_about_regulated_equipment(text):
            return False
        self._replace(message, "ask_regulation")
        return True

    def _decline(self, message: Message) -> None:
        """不用转人工 read as `request_human`: it becomes `deny` (the request drops out of the ranking)."""
        if (message.get(INTENT) or {}).get(INTENT_NAME_KEY) == self.intent:
            self._replace(message, "deny", drop=(self.intent,))

    def _replace(self, message: Message, intent: Text, drop: tuple = ()) -> None:
        """Make `intent` the message's intent with this component's confidence.

        The classifier's own ranking follows (without `intent` and `drop`), scaled into what is
        left of the probability mass: FallbackClassifier's ambiguity check compares the first two
        confidences. The classifier's intent is kept under OVERRIDE_KEY.
        """
        previous = message.get(INTENT) or {}
        rest = 1.0 - self.confidence
        ranking = [{**r, PREDICTED_CONFIDENCE_KEY: float(r.get(PREDICTED_CONFIDENCE_KEY) or 0.0) * rest}
                   for r in message.get(INTENT_RANKING_KEY) or []
                   if r.get(INTENT_NAME_KEY) != intent and r.get(INTENT_NAME_KEY) not in drop]
        top = {INTENT_NAME_KEY: intent, PREDICTED_CONFIDENCE_KEY: self.confidence}
        message.set(INTENT, top, add_to_output=True)
        message.set(INTENT_RANKING_KEY, [top, *ranking], add_to_output=True)
        message.set(OVERRIDE_KEY, previous.get(INTENT_NAME_KEY), add_to_output=True)
