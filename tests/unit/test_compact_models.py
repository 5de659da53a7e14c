"""DIET and TED stored without the optimizer's state and with 16-bit weights (xiaoan/nlu/compact.py,
issue 13: model size).

Tiny NLU models are trained here with Rasa's own training entry point, once with Rasa's
DIETClassifier and once with CompactDIETClassifier on the same data: the compact model stores a
half-precision archive instead of the checkpoint, holds no optimizer variable and is much smaller,
and the model loaded back from it still tells the intents apart (a model whose weights were not
restored would guess). The archive's round trip is checked on a small Keras model too.
"""

from __future__ import annotations

import asyncio
import tarfile
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from xiaoan.nlu.compact import (
    OPTIMIZER_CHILD, HalfPrecisionWeights, archive_path, checkpoint_to_half, half_to_checkpoint, without_optimizer,
)

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


def _unpack(model: Path, into: Path) -> Path:
    with tarfile.open(model) as archive:
        archive.extractall(into)
    return into


def _checkpoint_bytes(prefix: Path) -> int:
    return sum(p.stat().st_size for p in prefix.parent.glob(prefix.name + "*"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("compact")
    return {"rasa": _train(tmp, "DIETClassifier"), "compact": _train(tmp, "xiaoan.nlu.compact.CompactDIETClassifier"),
            "tmp": tmp}


def test_compact_model_stores_half_precision_weights_without_the_optimizer(trained):
    full_dir = _unpack(trained["rasa"], trained["tmp"] / "unpacked-rasa")
    compact_dir = _unpack(trained["compact"], trained["tmp"] / "unpacked-compact")
    (full,) = [index.with_suffix("") for index in full_dir.rglob("*.tf_model.index")]
    (archive,) = compact_dir.rglob("*.tf_model" + archive_path("").name)
    assert not list(compact_dir.rglob("*.tf_model.index")) and not list(compact_dir.rglob("*.tf_model.data-*"))
    full_names = [name for name, _ in tf.train.list_variables(str(full))]
    with np.load(archive) as stored:
        compact_names = list(stored.files)
        floats = {stored[name].dtype for name in compact_names if stored[name].dtype.kind == "f"}
        float_bytes = sum(stored[name].nbytes for name in compact_names if stored[name].dtype.kind == "f")
    assert float_bytes > 0.9 * archive.stat().st_size  # the weights are what the archive holds
    assert floats == {np.dtype(np.float16)}
    assert any(OPTIMIZER_CHILD in name for name in full_names)  # Rasa's own checkpoint carries Adam's state
    assert not any(OPTIMIZER_CHILD in name for name in compact_names)
    # every weight of the model is still there
    weights = {name for name in full_names if OPTIMIZER_CHILD not in name and "save_counter" not in name}
    assert weights <= set(compact_names)
    # Adam keeps two moments per weight (Rasa's file is about twice the weights) and each weight takes
    # two bytes instead of four: together under 30% of Rasa's checkpoint
    assert archive.stat().st_size < 0.3 * _checkpoint_bytes(full)


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


def _diet_of(agent):
    for node in agent.processor.graph_runner._instantiated_nodes.values():
        component = getattr(node, "_component", None)
        if type(component).__name__ == "CompactDIETClassifier":
            return component.model
    raise AssertionError("no CompactDIETClassifier in the loaded graph")


def test_prediction_only_load_predicts_as_rasa_loads_and_builds_no_optimizer(trained, monkeypatch):
    """The model loaded by one prediction (no training step) gives Rasa's own load's predictions."""
    from rasa.core.agent import Agent
    from rasa.nlu.classifiers.diet_classifier import DIET

    from xiaoan.nlu.compact import CompactDIET

    texts = ("退款怎么弄", "钱能退吗", "执照怎么办理", "营业执照要什么", "你好", "随便说一句")

    def rankings(agent):
        loop = asyncio.new_event_loop()
        try:
            return [[(r["name"], r["confidence"]) for r in loop.run_until_complete(agent.parse_message(text))
                     ["intent_ranking"]] for text in texts]
        finally:
            loop.close()

    lean = Agent.load(str(trained["compact"]))
    # no training step: no optimizer slots (at most the unused default optimizer's step counter)
    assert len(_diet_of(lean).optimizer.variables()) <= 1
    ours = rankings(lean)
    # Rasa's own path (one training step on the stored example, then the weights)
    monkeypatch.setattr(CompactDIET, "load", classmethod(lambda cls, *a, **k: DIET.load.__func__(cls, *a, **k)))
    rasas = Agent.load(str(trained["compact"]))
    assert len(_diet_of(rasas).optimizer.variables()) > len(_diet_of(rasas).trainable_weights)  # Adam's two slots
    for mine, theirs in zip(ours, rankings(rasas)):
        assert [name for name, _ in mine] == [name for name, _ in theirs]
        assert max(abs(a - b) for (_, a), (_, b) in zip(mine, theirs)) < 1e-5


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


class _Weights(tf.keras.Model):
    """Stores its weights as RasaModel.save does (a TensorFlow checkpoint at a prefix)."""

    def save(self, model_file_name, overwrite=True):
        self.save_weights(model_file_name, overwrite=overwrite, save_format="tf")


class _HalfDense(HalfPrecisionWeights, _Weights):
    """A small Keras model with the half-precision storage of CompactDIET/CompactTED."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = tf.keras.layers.Dense(16, activation="relu")
        self.out = tf.keras.layers.Dense(3)
        self.steps = tf.Variable(7, dtype=tf.int64, trainable=False)

    def call(self, inputs):
        return self.out(self.hidden(inputs))


def test_half_precision_round_trip_keeps_outputs_and_non_float_values(tmp_path):
    tf.random.set_seed(3)
    inputs = tf.random.normal((5, 4))
    model = _HalfDense()
    model(inputs)
    for weight in model.weights:  # every float weight, biases too, away from its initial value
        if weight.dtype == tf.float32:
            weight.assign(tf.random.normal(weight.shape))
    expected = model(inputs).numpy()
    model.steps.assign(41)
    prefix = tmp_path / "m.tf_model"
    model.save(str(prefix))
    # only the archive is left: the checkpoint's index and data files are gone
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("m.tf_model")) == ["m.tf_model.fp16.npz"]

    fresh = _HalfDense()
    fresh(inputs)  # build the weights, as Rasa's load() does with one training step
    fresh.load_weights(str(prefix))
    assert int(fresh.steps.numpy()) == 41  # an integer variable comes back exactly
    np.testing.assert_allclose(fresh(inputs).numpy(), expected, rtol=2e-3, atol=2e-3)
    for before, after in zip(model.weights, fresh.weights):
        np.testing.assert_allclose(after.numpy(), before.numpy(), rtol=1e-3, atol=1e-4)


def test_a_plain_checkpoint_still_loads(tmp_path):
    """A model stored before the half-precision archive (index + data files) loads as before."""
    inputs = tf.ones((2, 4))
    model = _HalfDense()
    expected = model(inputs).numpy()
    _Weights.save(model, str(tmp_path / "old.tf_model"))
    fresh = _HalfDense()
    fresh(inputs)
    fresh.load_weights(str(tmp_path / "old.tf_model"))
    np.testing.assert_allclose(fresh(inputs).numpy(), expected, rtol=1e-6)


def test_archive_converts_back_to_a_readable_checkpoint(tmp_path):
    model = _HalfDense()
    model(tf.ones((1, 4)))
    _Weights.save(model, str(tmp_path / "a.tf_model"))
    names = {name for name, _ in tf.train.list_variables(str(tmp_path / "a.tf_model"))}
    archive = checkpoint_to_half(tmp_path / "a.tf_model")
    half_to_checkpoint(archive, tmp_path / "b.tf_model")
    assert {name for name, _ in tf.train.list_variables(str(tmp_path / "b.tf_model"))} == names
