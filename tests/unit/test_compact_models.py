"""DIET and TED stored without the optimizer's state (xiaoan/nlu/compact.py, issue 13: model size).

Tiny NLU models are trained here with Rasa's own training entry point, once with Rasa's
DIETClassifier and once with CompactDIETClassifier on the same data: the compact checkpoint holds
no optimizer variable and is much smaller, and the model loaded back from it still tells the
intents apart (a model whose weights were not restored would guess).
"""

from __future__ import annotations

import asyncio
import tarfile
from pathlib import Path

import pytest
import tensorflow as tf

from xiaoan.nlu.compact import OPTIMIZER_CHILD, without_optimizer

NLU = """version: "3.1"
nlu:
- intent: ask_refund
  examples: |
    - 我要退款
    - 请帮我退款
    - 退款怎么办理
    - 能不能退钱
    - 我想退钱
    - 钱退给我
    - 怎么申请退款
    - 退款什么时候到
- intent: ask_license
  examples: |
    - 营业执照怎么办
    - 我要办营业执照
    - 执照在哪里办理
    - 办执照要什么材料
    - 营业执照丢了
    - 执照怎么申请
    - 个体户执照怎么办
    - 营业执照多久能拿到
"""

CONFIG = """recipe: default.v1
language: zh
assistant_id: compact-test
pipeline:
  - name: JiebaTokenizer
  - name: CountVectorsFeaturizer
    analyzer: char
    min_ngram: 1
    max_ngram: 2
  - name: {classifier}
    epochs: 40
    random_seed: 1
    entity_recognition: false
policies: []
"""


def _train(tmp_path: Path, classifier: str) -> Path:
    from rasa.model_training import train_nlu

    work = tmp_path / classifier
    (work / "data").mkdir(parents=True)
    (work / "data" / "nlu.yml").write_text(NLU, encoding="utf-8")
    (work / "config.yml").write_text(CONFIG.format(classifier=classifier), encoding="utf-8")
    model = train_nlu(config=str(work / "config.yml"), nlu_data=str(work / "data"), output=str(work / "models"),
                      fixed_model_name="m")
    return Path(model)


def _checkpoints(model: Path, into: Path) -> list[Path]:
    """The unpacked model's TensorFlow checkpoint prefixes (`*.tf_model`)."""
    with tarfile.open(model) as archive:
        archive.extractall(into)
    return [index.with_suffix("") for index in into.rglob("*.tf_model.index")]


def _checkpoint_bytes(prefix: Path) -> int:
    return sum(p.stat().st_size for p in prefix.parent.glob(prefix.name + "*"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("compact")
    return {"rasa": _train(tmp, "DIETClassifier"), "compact": _train(tmp, "xiaoan.nlu.compact.CompactDIETClassifier"),
            "tmp": tmp}


def test_compact_checkpoint_leaves_out_the_optimizer_and_is_smaller(trained):
    (full,) = _checkpoints(trained["rasa"], trained["tmp"] / "unpacked-rasa")
    (compact,) = _checkpoints(trained["compact"], trained["tmp"] / "unpacked-compact")
    full_names = [name for name, _ in tf.train.list_variables(str(full))]
    compact_names = [name for name, _ in tf.train.list_variables(str(compact))]
    assert any(OPTIMIZER_CHILD in name for name in full_names)  # Rasa's own checkpoint carries Adam's state
    assert not any(OPTIMIZER_CHILD in name for name in compact_names)
    # every weight of the model is still there
    weights = {name for name in full_names if OPTIMIZER_CHILD not in name and "save_counter" not in name}
    assert weights <= set(compact_names)
    # Adam keeps two moments per weight: the compact file is well under half the size
    assert _checkpoint_bytes(compact) < 0.5 * _checkpoint_bytes(full)


def test_compact_model_loads_and_still_tells_the_intents_apart(trained):
    from rasa.core.agent import Agent

    agent = Agent.load(str(trained["compact"]))
    loop = asyncio.new_event_loop()
    try:
        for text, intent in (("退款怎么弄", "ask_refund"), ("钱能退吗", "ask_refund"),
                             ("执照怎么办理", "ask_license"), ("营业执照要什么", "ask_license")):
            parsed = loop.run_until_complete(agent.parse_message(text))
            assert parsed["intent"]["name"] == intent, (text, parsed["intent"])
            assert parsed["intent"]["confidence"] > 0.8
    finally:
        loop.close()


def test_without_optimizer_restores_the_model_afterwards():
    model = tf.keras.Sequential([tf.keras.layers.Dense(2, input_shape=(3,))])
    model.compile(optimizer=tf.keras.optimizers.Adam(), loss="mse")
    model.fit(tf.zeros((4, 3)), tf.zeros((4, 2)), verbose=0)
    before = set(model._trackable_children())
    assert OPTIMIZER_CHILD in before
    with without_optimizer(model):
        assert set(model._trackable_children()) == before - {OPTIMIZER_CHILD}
    assert OPTIMIZER_CHILD in model._trackable_children()
    assert "_trackable_children" not in vars(model)
