"""The honest conversation benchmark: simulated citizens (bench/personas.py) file complaints and
reports through the real, running assistant, and the tickets it creates are checked field by field.

The whole stack is started here (Rasa server with the trained model, action server, a fresh
SQLite database and tracker store, free loopback ports), the same way tests/e2e/conftest.py does.
Each citizen types text only, through Rasa's REST channel; it decides what to say from the
tracker's `requested_slot` (never from the bot's Chinese), answers from its persona, confirms the
read-back, and stops at a ticket number, at a human handoff, or after a turn limit (stuck).

    python -m bench conversation [--split dev|sealed] [--n N] [--seed S] [--root DIR] [--model PATH]
                                 [--workers 4] [--json OUT] [--show-failures]

`--root DIR --model PATH` runs a previous release: its code (PYTHONPATH=DIR, so its `xiaoan` and
`actions` packages are used), domain, endpoints and knowledge base, with its model.
The sealed split only ever prints aggregate figures, never a transcript.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import json
import re
import secrets
import subprocess
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import requests

from bench.personas import EDIT_FIELD_LABELS, SCORED_FIELDS, Persona, generate, score_ticket
from tests import processes
from tests.e2e.conftest import Stack, _wait
from tests.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "bench" / "conversation_baseline.json"
TICKET_RE = re.compile(r"XA-\d{6}-\d{4}")
FORMS = ("complaint_form", "report_form")
MAX_TURNS = 30
# responses and actions that offer or start a human handoff (domain.yml, handoff and forms sections)
HANDOFF_UTTERS = {"utter_offer_human", "utter_offer_human_form", "utter_handoff_queued",
                  "utter_handoff_queued_no_agent", "utter_handoff_no_agent", "utter_offer_callback"}
HANDOFF_ACTIONS = {"action_handoff"}


# --- the stack --------------------------------------------------------------------------------------

def start_stack(root: Path, model: Path, workdir: Path, extra_env: dict | None = None) -> Stack:
    """Start the action server and the Rasa server of the code at `root` with `model`
    (`extra_env`: settings added to both processes' environment)."""
    token = secrets.token_urlsafe(16)
    ports = {name: free_port() for name in ("rasa", "actions")}
    rasa_url, action_url = processes.url(ports["rasa"]), processes.url(ports["actions"])
    env = processes.stack_env(workdir, token=token, rasa_url=rasa_url, action_url=action_url)
    env["PYTHONPATH"] = processes.with_pythonpath(env, root)
    env.update(extra_env or {})
    stack = Stack(env=env, workdir=workdir, rasa_url=rasa_url, action_url=action_url, web_url="", token=token)
    processes.prepare_database(env, root, timeout=120)
    commands = {
        "actions": processes.actions_command(ports["actions"]),
        "rasa": processes.rasa_command(ports["rasa"], token, model),
    }
    try:
        for name, cmd in commands.items():
            stack.procs[name] = processes.spawn(cmd, workdir / f"{name}.log", env, cwd=root)
        _wait(f"{stack.action_url}/health", stack.procs["actions"], "actions", stack)
        _wait(f"{stack.rasa_url}/status?token={token}", stack.procs["rasa"], "rasa", stack, timeout=600)
    except BaseException:
        stop_stack(stack)
        raise
    return stack


def stop_stack(stack: Stack) -> None:
    processes.stop(stack.procs.values())


def xiaoan_cli(stack: Stack, root: Path, *args: str) -> subprocess.CompletedProcess:
    """The `xiaoan` command of the code at `root`, against the stack's database."""
    return processes.xiaoan(stack.env, *args, cwd=root)


# --- one conversation -------------------------------------------------------------------------------

@dataclass
class Outcome:
    """What happened to one persona."""

    pid: str
    intent: str
    kind: str
    opening_style: str
    turns: int = 0
    rephrases: int = 0
    ticket_no: str | None = None
    ticket: dict | None = None
    handoff: bool = False
    stuck: bool = False
    error: str | None = None
    fields: dict = field(default_factory=dict)      # field -> right?
    intent_right: bool | None = None
    transcript: list = field(default_factory=list)  # (speaker, text)

    @property
    def fully_right(self) -> bool:
        return bool(self.ticket) and all(self.fields.values())

    @property
    def right_first_time(self) -> bool:
        return self.fully_right and self.rephrases == 0


def _bot_events_since_user(tracker: dict) -> tuple[set, set]:
    """(response names, action names) of the bot's turn after the latest user message."""
    utters, actions = set(), set()
    for event in reversed(tracker.get("events") or []):
        if event.get("event") == "user":
            break
        if event.get("event") == "bot":
            name = (event.get("metadata") or {}).get("utter_action")
            if name:
                utters.add(name)
        elif event.get("event") == "action":
            actions.add(event.get("name"))
    return utters, actions


# words of an offered choice that show it is about one kind of complaint; a citizen with another
# kind of complaint does not pick it
_CHOICE_CUES = {"complain_prepaid": ("预付", "会员卡", "跑路"), "complain_refund": ("退款", "退货", "退钱")}
_NOT_A_FILING = ("咨询", "查询", "流程", "都不是", "其他")


def fitting_choice(titles: list[str], intent: str) -> str | None:
    """The offered choice a citizen with `intent` would type: it names filing a complaint (投诉) or a
    report (举报), is not a question about them (咨询/查询…), and names no other kind of complaint;
    one naming the citizen's own kind first, then the shortest."""
    word = "举报" if intent == "report_violation" else "投诉"
    own = _CHOICE_CUES.get(intent, ())
    others = [cue for key, cues in _CHOICE_CUES.items() if key != intent for cue in cues]
    fitting = [t for t in titles if word in t and not any(w in t for w in _NOT_A_FILING)
               and not any(cue in t for cue in others)]
    fitting.sort(key=lambda t: (not any(cue in t for cue in own), len(t)))
    return fitting[0] if fitting else None


class Citizen:
    """Plays one persona: chooses each message from the tracker's state and the persona."""

    def __init__(self, persona: Persona):
        self.p = persona
        self.attempts: collections.Counter = collections.Counter()
        self.inline_pending = False
        self.question_done = False
        self.cancel_done = False
        self.resume_pending = False
        self.readback = "none"   # none -> edit (修改 sent) -> field (label sent) -> done
        self.reopened = 0
        self.rephrases = 0
        self.wrong_given: set = set()

    def next_message(self, tracker: dict, last_bot: list[dict]) -> str | None:
        """What the citizen types now; None = it gives up (stuck)."""
        p = self.p
        slots = tracker.get("slots") or {}
        requested = slots.get("requested_slot")
        loop = (tracker.get("active_loop") or {}).get("name")
        if self.resume_pending:
            self.resume_pending = False
            return "继续填写"
        if loop not in FORMS or not requested:
            if self.reopened >= 3:
                return None
            self.reopened += 1
            self.rephrases += 1
            self.attempts.clear()
            # a typed choice when the bot offers one that fits (e.g. a clarification's 我要投诉)
            word = "举报" if p.kind == "report" else "投诉"
            titles = [b.get("title") or "" for m in last_bot for b in (m.get("buttons") or [])]
            fitting = fitting_choice(titles, p.intent)
            if fitting:
                return fitting
            return p.fallback_opening if self.reopened == 1 else f"我要{word}商家"
        if self.inline_pending:
            self.inline_pending = False
            return p.correction_text
        if p.question and requested == p.question[0] and not self.question_done:
            self.question_done = True
            return p.question[1]
        if p.cancel_at == requested and not self.cancel_done:
            self.cancel_done = True
            self.resume_pending = True
            return p.cancel_text
        target = next(iter(p.wrong), None)
        if requested == "confirmation":
            if p.correction == "readback" and self.readback == "none":
                self.readback = "edit"
                return "修改"
            return self._answer("confirmation")
        if requested == "edit_field":
            if self.readback == "edit" and target:
                self.readback = "field"
                return EDIT_FIELD_LABELS[target]
            self.rephrases += 1
            return "不用改了"
        if self.readback == "field" and requested == target:
            self.readback = "done"
            return p.answers[target]
        if any('"district"' in (b.get("payload") or "") for m in last_bot for b in (m.get("buttons") or [])):
            return p.district_answer
        return self._answer(requested)

    def _answer(self, slot: str) -> str:
        p = self.p
        n = self.attempts[slot]
        self.attempts[slot] += 1
        if slot not in p.answers:
            if n == 0 and slot in p.extra_answers:
                return p.extra_answers[slot]
            self.rephrases += 1
            return "不知道"
        if n == 0:
            if slot in p.wrong and slot not in self.wrong_given:
                self.wrong_given.add(slot)
                self.inline_pending = p.correction == "inline"
                return p.wrong[slot]
            return p.answers[slot]
        self.rephrases += 1
        options = p.rephrasings.get(slot) or [p.answers[slot]]
        return options[min(n - 1, len(options) - 1)]


def play(stack: Stack, persona: Persona, max_turns: int = MAX_TURNS) -> Outcome:
    """One persona through the REST channel, until a ticket, a handoff or the turn limit."""
    out = Outcome(pid=persona.pid, intent=persona.intent, kind=persona.kind, opening_style=persona.opening_style)
    sender = f"bench-{persona.pid}-{uuid.uuid4().hex[:8]}"
    citizen = Citizen(persona)
    text = persona.opening
    try:
        while True:
            out.turns += 1
            out.transcript.append(("citizen", text))
            replies = stack.say(sender, text)
            for reply in replies:
                titles = [b.get("title") or "" for b in (reply.get("buttons") or [])]
                out.transcript.append(("bot", (reply.get("text") or "") + (f" [{' | '.join(titles)}]" if titles else "")))
            found = next((m.group(0) for r in replies for m in [TICKET_RE.search(r.get("text") or "")] if m), None)
            if found:
                out.ticket_no = found
                break
            tracker = stack.tracker(sender)
            utters, actions = _bot_events_since_user(tracker)
            if utters & HANDOFF_UTTERS or actions & HANDOFF_ACTIONS:
                out.handoff = True
                break
            if out.turns >= max_turns:
                out.stuck = True
                break
            text = citizen.next_message(tracker, replies)
            if text is None:
                out.stuck = True
                break
    except requests.RequestException as exc:
        out.error = f"{type(exc).__name__}: {exc}"
    out.rephrases = citizen.rephrases
    return out


def fetch_ticket(stack: Stack, root: Path, ticket_no: str) -> dict | None:
    result = xiaoan_cli(stack, root, "tickets", "show", ticket_no, "--json")
    if result.returncode != 0:
        return None
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError:
        return None


def judge(outcome: Outcome, persona: Persona, ticket: dict | None) -> None:
    outcome.ticket = ticket
    outcome.fields = score_ticket(persona, ticket)
    outcome.intent_right = bool(ticket) and ticket.get("intent") == persona.intent


# --- figures ----------------------------------------------------------------------------------------

def figures(outcomes: list[Outcome]) -> dict:
    """Aggregate figures of a run (no citizen text in them)."""
    n = len(outcomes)
    created = [o for o in outcomes if o.ticket]
    errors = {f: sum(1 for o in created if not o.fields.get(f)) for f in SCORED_FIELDS}
    by_intent = {}
    for intent in sorted({o.intent for o in outcomes}):
        group = [o for o in outcomes if o.intent == intent]
        by_intent[intent] = {"personas": len(group),
                             "right_first_pct": round(100 * sum(o.right_first_time for o in group) / len(group), 1)}
    by_opening = {}
    for style in ("short", "letter"):
        group = [o for o in outcomes if o.opening_style == style]
        if group:
            by_opening[style] = {"personas": len(group),
                                 "right_first_pct": round(100 * sum(o.right_first_time for o in group) / len(group), 1)}
    return {
        "personas": n,
        "right_first_pct": round(100 * sum(o.right_first_time for o in outcomes) / n, 1) if n else 0.0,
        "fully_right_pct": round(100 * sum(o.fully_right for o in outcomes) / n, 1) if n else 0.0,
        "created_pct": round(100 * len(created) / n, 1) if n else 0.0,
        "mean_turns_per_ticket": round(sum(o.turns for o in created) / len(created), 1) if created else None,
        "stuck": sum(o.stuck for o in outcomes),
        "handoffs": sum(o.handoff for o in outcomes),
        "errors": sum(1 for o in outcomes if o.error),
        "field_errors": errors,
        "intent_mismatch_info": sum(1 for o in created if not o.intent_right),
        "by_intent": by_intent,
        "by_opening": by_opening,
    }


def load_baseline() -> dict | None:
    if not BASELINE.exists():
        return None
    return json.loads(BASELINE.read_text(encoding="utf-8"))


def print_table(today: dict, split: str, baseline: dict | None) -> None:
    base = (baseline or {}).get("figures") if baseline and baseline.get("split") == split else None
    label = (baseline or {}).get("release", "previous") if base else "previous (none)"
    print(f"\nConversation benchmark, split {split}: simulated citizens through the REST channel")
    print(f"  {'':40} {'today':>10} {label[:18]:>18}")

    def row(name: str, key: str, fmt: str = "{}") -> None:
        cur = today.get(key)
        old = base.get(key) if base else None
        print(f"  {name:40} {fmt.format(cur) if cur is not None else '-':>10} "
              f"{(fmt.format(old) if old is not None else '-'):>18}")

    row("personas", "personas")
    row("tickets fully right at first answer %", "right_first_pct")
    row("tickets fully right (any rephrasing) %", "fully_right_pct")
    row("tickets created %", "created_pct")
    row("mean citizen turns per ticket", "mean_turns_per_ticket")
    row("stuck conversations", "stuck")
    row("handoffs", "handoffs")
    row("transport errors", "errors")
    print("  field errors (among created tickets):")
    for f in SCORED_FIELDS:
        cur = today["field_errors"].get(f)
        old = base["field_errors"].get(f) if base and "field_errors" in base else None
        print(f"    {f:38} {cur:>10} {(old if old is not None else '-'):>18}")
    print(f"    {'intent (information only)':38} {today['intent_mismatch_info']:>10} "
          f"{(base.get('intent_mismatch_info', '-') if base else '-'):>18}")
    print("  right at first answer % by intent / opening:")
    for key, group in list(today["by_intent"].items()) + list(today["by_opening"].items()):
        old = ((base or {}).get("by_intent", {}) | (base or {}).get("by_opening", {})).get(key, {})
        print(f"    {key:30} n={group['personas']:<5} {group['right_first_pct']:>10} "
              f"{old.get('right_first_pct', '-'):>18}")


_PHONE_RE = re.compile(r"(1\d{2})[\s-]?\d{4}[\s-]?(\d{4})")
_LANDLINE_RE = re.compile(r"(021)[\s\-)]?\d{4}(\d{4})")


def mask(text: str) -> str:
    """Phone numbers in a transcript line, masked like the tickets do."""
    return _LANDLINE_RE.sub(r"\1****\2", _PHONE_RE.sub(r"\1****\2", text))


def print_failures(outcomes: list[Outcome], limit: int = 40) -> None:
    """Dev split only: the transcripts of failed conversations, phones masked."""
    failed = [o for o in outcomes if not o.right_first_time][:limit]
    for o in failed:
        wrong = [f for f, ok in o.fields.items() if not ok]
        status = ("stuck" if o.stuck else "handoff" if o.handoff else "error" if o.error
                  else f"ticket {o.ticket_no}, wrong: {', '.join(wrong) or '-'}, rephrases {o.rephrases}")
        print(f"\n--- {o.pid} ({o.intent}, {o.opening_style}): {status}")
        for who, text in o.transcript:
            print(f"  {'市民' if who == 'citizen' else '小安'}: {mask(text)}")


# --- main -------------------------------------------------------------------------------------------

def run(split: str = "dev", n: int | None = None, seed: int = 0, root: Path = ROOT, model: Path | None = None,
        workers: int = 4, json_out: Path | None = None, show_failures: bool = True) -> dict:
    """Start the stack, play the personas, print the table; returns the aggregate figures."""
    n = n if n is not None else (300 if split == "sealed" else 40)
    root = Path(root).resolve()
    model = Path(model).resolve() if model else root / "models" / "xiaoan.tar.gz"
    if not model.exists():
        print(f"conversation bench: no trained model at {model} (run `make train`); skipped")
        return {}
    personas = generate(split, n, seed)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="xiaoan-convbench-") as tmp:
        stack = start_stack(root, model, Path(tmp))
        try:
            def one(persona: Persona) -> Outcome:
                try:
                    outcome = play(stack, persona)
                    ticket = fetch_ticket(stack, root, outcome.ticket_no) if outcome.ticket_no else None
                except Exception as exc:  # one broken conversation must not end the run
                    outcome = Outcome(pid=persona.pid, intent=persona.intent, kind=persona.kind,
                                      opening_style=persona.opening_style, error=f"{type(exc).__name__}: {exc}")
                    ticket = None
                judge(outcome, persona, ticket)
                return outcome

            with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
                outcomes = list(pool.map(one, personas))
        finally:
            stop_stack(stack)
    today = figures(outcomes)
    today["seconds"] = round(time.monotonic() - started)
    print_table(today, split, load_baseline())
    print(f"  ({today['seconds']} s, {workers} conversations at a time, model {model})")
    if split == "dev" and show_failures:
        print_failures(outcomes)
    if json_out:
        data = {"split": split, "n": n, "seed": seed, "root": str(root), "model": str(model), "figures": today}
        if split == "dev":
            data["outcomes"] = [dict(asdict(o), transcript=[(who, mask(text)) for who, text in o.transcript])
                                for o in outcomes]
        Path(json_out).write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    return today


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench conversation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("dev", "sealed"), default="dev")
    parser.add_argument("--n", type=int, default=None, help="personas (default 40 dev, 300 sealed)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout whose code runs (a previous release)")
    parser.add_argument("--model", type=Path, default=None, help="model (default ROOT/models/xiaoan.tar.gz)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--json", type=Path, default=None, dest="json_out")
    parser.add_argument("--no-failures", action="store_true", help="dev split: do not print failed transcripts")
    args = parser.parse_args(argv)
    run(args.split, args.n, args.seed, args.root, args.model, args.workers, args.json_out, not args.no_failures)


if __name__ == "__main__":
    main()
