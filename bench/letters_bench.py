"""Sealed citizen letters (bench/sealed/letters.yml) through the running assistant.

Each letter is parsed (POST /model/parse: the intent, hence the kind) and sent as the opening of a
fresh REST conversation; the tracker's slots `respondent_name`, `amount` and `district` then show
what the assistant prefilled from it. Prints aggregate figures only: the letters are sealed.

    python -m bench letters [--url http://127.0.0.1:5005 --token T] [--root DIR] [--model PATH]
                            [--workers 4] [--json OUT]

Without --url the stack is started here (as the conversation benchmark does) and stopped after.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import tempfile
import time
import uuid
from pathlib import Path

import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent
LETTERS = ROOT / "bench" / "sealed" / "letters.yml"
# Development letters (bench/dev/letters.yml): written by someone who saw neither the training
# letters nor the code, for debugging the reader; `--split dev` prints each miss.
SPLITS = {"sealed": LETTERS, "dev": ROOT / "bench" / "dev" / "letters.yml"}
KIND_OF_INTENT = {"complain_refund": "complaint", "complain_prepaid": "complaint", "complain_general": "complaint",
                  "report_violation": "report", "ask_consumer_rights": "consultation",
                  "ask_business_registration": "consultation", "ask_regulation": "consultation",
                  "out_of_scope": "out_of_scope"}


def load_letters(path: Path = LETTERS) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["letters"]


def _norm(text) -> str:
    return re.sub(r"\s+", "", str(text or "")).replace("(", "（").replace(")", "）")


def parse_amount(value) -> float | None:
    """The amount slot ("2000", "2000.5", "none" or empty) as a number, or None."""
    if value in (None, "", "none"):
        return None
    try:
        return float(str(value).replace(",", ""))
    except ValueError:
        return None


def judge(letter: dict, intent: str | None, slots: dict) -> dict:
    """Right/wrong per measure for one letter; a measure that does not apply is None."""
    has_merchant = letter["kind"] in ("complaint", "report")
    return {
        "kind": KIND_OF_INTENT.get(intent or "", "other") == letter["kind"],
        "intent": intent == letter["intent"],
        "merchant": (_norm(slots.get("respondent_name")) == _norm(letter["respondent_name"])
                     if has_merchant and letter["respondent_name"] else None),
        "amount": (parse_amount(slots.get("amount")) is not None
                   and abs(parse_amount(slots.get("amount")) - float(letter["amount"])) < 0.5
                   if letter["amount"] is not None else None),
        "district": ((slots.get("district") or None) == letter["district"]) if has_merchant else None,
    }


def figures(results: list[dict]) -> dict:
    out = {"letters": len(results)}
    names = {"kind": "kind_accuracy_pct", "intent": "intent_accuracy_pct", "merchant": "merchant_prefilled_right_pct",
             "amount": "amount_prefilled_right_pct", "district": "district_right_pct"}
    for key, name in names.items():
        scored = [r[key] for r in results if r[key] is not None]
        out[name] = round(100 * sum(scored) / len(scored), 1) if scored else None
        out[name.replace("_pct", "_n")] = len(scored)
    # how the misses went wrong (aggregate only): nothing prefilled, or a wrong value
    for key in ("merchant", "amount"):
        missed = [r for r in results if r[key] is False]
        out[f"{key}_missing_n"] = sum(1 for r in missed if r.get(f"_{key}_given") is False)
        out[f"{key}_wrong_value_n"] = len(missed) - out[f"{key}_missing_n"]
    return out


def run_letter(rasa_url: str, token: str, letter: dict, rest_secret: str = "") -> dict:
    parsed = requests.post(f"{rasa_url}/model/parse", params={"token": token}, json={"text": letter["text"]},
                           timeout=60)
    parsed.raise_for_status()
    intent = (parsed.json().get("intent") or {}).get("name")
    sender = f"letters-{uuid.uuid4().hex[:12]}"
    requests.post(f"{rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": letter["text"]},
                  headers={"X-Xiaoan-Rest-Secret": rest_secret}, timeout=120).raise_for_status()
    tracker = requests.get(f"{rasa_url}/conversations/{sender}/tracker", params={"token": token}, timeout=30)
    tracker.raise_for_status()
    slots = tracker.json().get("slots") or {}
    result = judge(letter, intent, slots)
    result["_merchant_given"] = bool((slots.get("respondent_name") or "").strip())
    result["_amount_given"] = parse_amount(slots.get("amount")) is not None
    result["_got"] = {"intent": intent, **{key: slots.get(key) for key in ("respondent_name", "amount", "district")}}
    return result


def run(url: str | None = None, token: str | None = None, root: Path = ROOT, model: Path | None = None,
        workers: int = 4, json_out: Path | None = None, split: str = "sealed") -> dict:
    letters = load_letters(SPLITS[split])
    started = time.monotonic()
    stack = tmp = None
    if url is None:
        from bench.conversation_bench import start_stack

        root = Path(root).resolve()
        model = Path(model).resolve() if model else root / "models" / "xiaoan.tar.gz"
        if not model.exists():
            print(f"letters bench: no trained model at {model} (run `make train`); skipped")
            return {}
        tmp = tempfile.TemporaryDirectory(prefix="xiaoan-letters-")
        stack = start_stack(root, model, Path(tmp.name))
        url, token = stack.rasa_url, stack.token
    if stack is not None:
        rest_secret = stack.env["XIAOAN_REST_SECRET"]
    else:  # a running server: the secret of this machine's environment (or var/)
        from xiaoan.config import rest_secret as configured_rest_secret

        rest_secret = configured_rest_secret()
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            results = list(pool.map(lambda letter: run_letter(url, token or "", letter, rest_secret), letters))
    finally:
        if stack is not None:
            from bench.conversation_bench import stop_stack

            stop_stack(stack)
            tmp.cleanup()
    fig = figures(results)
    fig["seconds"] = round(time.monotonic() - started)
    if split == "dev":
        for letter, result in zip(letters, results):
            wrong = [key for key in ("kind", "intent", "merchant", "amount", "district") if result[key] is False]
            if wrong:
                expected = {key: letter.get(key) for key in ("intent", "respondent_name", "amount", "district")}
                print(f"--- {letter.get('id')} wrong: {', '.join(wrong)}\n  expected {expected}\n  got      {result['_got']}\n"
                      f"  {letter['text'][:300]}")
    title = "Sealed letters" if split == "sealed" else "Dev letters"
    print(f"\n{title}: a whole letter as the opening message (aggregate figures only)")
    rows = [("letters", "letters", None), ("kind accuracy %", "kind_accuracy_pct", "kind_accuracy_n"),
            ("intent accuracy %", "intent_accuracy_pct", "intent_accuracy_n"),
            ("merchant prefilled and right %", "merchant_prefilled_right_pct", "merchant_prefilled_right_n"),
            ("amount prefilled and right %", "amount_prefilled_right_pct", "amount_prefilled_right_n"),
            ("district right %", "district_right_pct", "district_right_n")]
    for label, key, n_key in rows:
        value = fig.get(key)
        suffix = f"  (of {fig[n_key]})" if n_key else ""
        print(f"  {label:34} {value if value is not None else '-':>8}{suffix}")
    for key in ("merchant", "amount"):
        print(f"  {key} misses: {fig[f'{key}_missing_n']} not prefilled, {fig[f'{key}_wrong_value_n']} a wrong value")
    if json_out:
        Path(json_out).write_text(json.dumps(fig, ensure_ascii=False, indent=2), encoding="utf-8")
    return fig


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench letters", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=None, help="a running Rasa server (default: start one)")
    parser.add_argument("--token", default=os.environ.get("XIAOAN_RASA_TOKEN"))
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--json", type=Path, default=None, dest="json_out")
    parser.add_argument("--split", choices=sorted(SPLITS), default="sealed",
                        help="sealed (aggregate figures only) or dev (prints each miss)")
    args = parser.parse_args(argv)
    run(args.url, args.token, args.root, args.model, args.workers, args.json_out, args.split)


if __name__ == "__main__":
    main()
