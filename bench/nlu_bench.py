"""NLU benchmark: the project's pipeline against Rasa's default pipeline, trained on the same data
in the same run, evaluated on the held-out examples in bench/nlu_heldout/ (never trained on).

Prints intent accuracy, macro-F1, fallback rate, parse latency p50/p95 and training wall time.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HELDOUT_DIR = ROOT / "bench" / "nlu_heldout"
TARGET_MACRO_F1 = 0.95
TARGET_P95_MS = 20.0


def load_heldout() -> list[tuple[str, str]]:
    """(text, intent) pairs of the held-out set, entity annotations stripped."""
    from rasa.shared.nlu.training_data.loading import load_data

    pairs = []
    for path in sorted(HELDOUT_DIR.glob("*.yml")):
        data = load_data(str(path))
        pairs += [(m.get("text"), m.get("intent")) for m in data.intent_examples]
    return pairs


def default_config(workdir: Path) -> Path:
    """Rasa's own default config file (what `rasa init` and autoconfiguration use)."""
    import rasa.engine.recipes.default_recipe as recipe

    source = Path(recipe.__file__).parent / "config_files" / "default_config.yml"
    target = workdir / "default_config.yml"
    shutil.copy(source, target)
    return target


def train(config: Path, out: Path, name: str) -> tuple[Path, float]:
    """Train an NLU-only model; returns its path and the wall time in seconds."""
    from rasa.model_training import train_nlu

    # no training cache: a component cached by an earlier `rasa train` would make the training
    # time meaningless (and the comparison unfair); Rasa reads this at every training
    os.environ["RASA_MAX_CACHE_SIZE"] = "0"
    started = time.perf_counter()
    model = train_nlu(config=str(config), nlu_data=str(ROOT / "data"), output=str(out), fixed_model_name=name)
    return Path(model), time.perf_counter() - started


def evaluate(model: Path, examples: list[tuple[str, str]]) -> dict:
    """Parse every held-out text; intent metrics and per-message latency."""
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog
    from sklearn.metrics import accuracy_score, f1_score

    configure_structlog(logging.ERROR)  # unconfigured, structlog prints every parse (held-out text, slow)
    agent = Agent.load(str(model))
    loop = asyncio.new_event_loop()
    for text, _ in examples[:20]:  # warm-up (graph and TensorFlow start-up)
        loop.run_until_complete(agent.parse_message(text))
    truth, predicted, latencies, fallbacks = [], [], [], 0
    for text, intent in examples:
        started = time.perf_counter()
        result = loop.run_until_complete(agent.parse_message(text))
        latencies.append((time.perf_counter() - started) * 1000)
        if result["intent"]["name"] == "nlu_fallback":
            fallbacks += 1
        ranking = [r["name"] for r in result.get("intent_ranking", []) if r["name"] != "nlu_fallback"]
        truth.append(intent)
        predicted.append(ranking[0] if ranking else "nlu_fallback")
    loop.close()
    latencies.sort()
    return {
        "accuracy": accuracy_score(truth, predicted),
        "macro_f1": f1_score(truth, predicted, average="macro", labels=sorted(set(truth)), zero_division=0),
        "fallback": fallbacks / len(examples),
        "p50": statistics.median(latencies),
        "p95": latencies[int(0.95 * (len(latencies) - 1))],
        "errors": [(t, i, p) for (t, _), i, p in zip(examples, truth, predicted) if i != p],
    }


def run() -> None:
    """Train both pipelines, evaluate, print the table."""
    logging.getLogger().setLevel(logging.ERROR)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    examples = load_heldout()
    work = Path(tempfile.mkdtemp(prefix="xiaoan-nlu-bench-"))
    rows = []
    try:
        for label, config in (("xiaoan (config.yml)", ROOT / "config.yml"),
                              ("rasa default pipeline", default_config(work))):
            model, seconds = train(config, work, label.split()[0].replace("(", ""))
            metrics = evaluate(model, examples)
            rows.append((label, metrics, seconds))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\nNLU benchmark — {len(examples)} held-out examples (bench/nlu_heldout), never trained on")
    print(f"{'pipeline':<24}{'accuracy':>10}{'macro-F1':>10}{'fallback':>10}{'p50 ms':>9}{'p95 ms':>9}{'train s':>9}")
    for label, m, seconds in rows:
        print(f"{label:<24}{m['accuracy']:>10.3f}{m['macro_f1']:>10.3f}{m['fallback']:>10.3f}"
              f"{m['p50']:>9.1f}{m['p95']:>9.1f}{seconds:>9.0f}")
    ours, base = rows[0][1], rows[1][1]
    print(f"target: macro-F1 >= {TARGET_MACRO_F1} (ours {ours['macro_f1']:.3f}: "
          f"{'met' if ours['macro_f1'] >= TARGET_MACRO_F1 else 'NOT met'}), "
          f"ahead of default by {ours['macro_f1'] - base['macro_f1']:+.3f}; "
          f"p95 < {TARGET_P95_MS} ms (ours {ours['p95']:.1f}: {'met' if ours['p95'] < TARGET_P95_MS else 'NOT met'})")
    if ours["errors"]:
        # which intents are confused, not the texts: whoever edits the training data must not
        # be tempted to fit the held-out examples
        pairs = collections.Counter((truth, pred) for _, truth, pred in ours["errors"])
        print("\nconfusions (ours): held-out intent -> predicted intent")
        for (truth, pred), n in pairs.most_common():
            print(f"  {truth:>26} -> {pred:<26} {n}")

if __name__ == "__main__":
    run()
