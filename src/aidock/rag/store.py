"""Persistent Chroma store of passages, always embedded by our own embedder.

Every collection records the embedder that built it (name and version, collection metadata
``aidock_embedder``); a query or ingest with another embedder is refused
(``EmbedderMismatchError``) until ``reindex`` re-embeds the stored passages, so an upgrade
never mixes vectors of two models. Retrieval is dense (Chroma's HNSW, cosine) or hybrid:
dense and BM25 rankings fused (``aidock.rag.retrieval``).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, cast

import chromadb
from chromadb.api.models.Collection import Collection
from chromadb.api.types import Metadata, Where
from chromadb.config import Settings
from chromadb.errors import NotFoundError

from aidock.rag.documents import Passage, document_id, split_passages
from aidock.rag.embeddings import Embedder
from aidock.rag.retrieval import LexicalCache, LexicalIndex, reciprocal_rank_fusion
from aidock.schemas.rag import CollectionInfo, DocumentIn, Source

log = logging.getLogger(__name__)

Scalar = str | int | float | bool

EMBEDDER_KEY = "aidock_embedder"
Retrieval = Literal["dense", "hybrid"]
# Dense candidates fused with the BM25 ranking in hybrid retrieval (at least top_k).
HYBRID_CANDIDATES = 20


def indexed_text(text: str, meta: dict[str, Any] | None) -> str:
    """What is embedded and searched for a stored passage: its section, then its text."""
    section = (meta or {}).get("section")
    return f"{section}\n{text}" if section else text


class StoreError(Exception):
    """Base class of store errors."""


class CollectionNotFoundError(StoreError):
    """The collection does not exist."""

    def __init__(self, name: str) -> None:
        super().__init__(f"collection {name!r} does not exist; ingest documents into it first")
        self.name = name


class EmbedderMismatchError(StoreError):
    """The collection was built with another embedder than the service uses."""

    def __init__(self, name: str, built_with: str | None, current: str) -> None:
        built = repr(built_with) if built_with else "an unknown embedder"
        super().__init__(
            f"collection {name!r} was built with embedder {built} but this service uses "
            f"{current!r}; rebuild it with `aidock worker rag reindex --collection {name}` "
            "(or run the service with the embedder that built it, RAG_EMBEDDER)"
        )
        self.built_with = built_with
        self.current = current


class DuplicateDocumentError(StoreError):
    """Two different documents of one request have the same id."""

    def __init__(self, index: int, doc_id: str) -> None:
        super().__init__(f"duplicate document id {doc_id!r} in this request")
        self.field = f"documents.{index}.id"


class RagStore:
    """Collections of passages in a ``chromadb.PersistentClient``."""

    def __init__(self, data_dir: Path, embedder: Embedder) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.embedder = embedder
        self.client = chromadb.PersistentClient(
            path=str(data_dir),
            settings=Settings(anonymized_telemetry=False, allow_reset=False),
        )
        self._write_lock = threading.Lock()
        self._lexical = LexicalCache()
        self._versions: dict[str, int] = {}

    def _changed(self, name: str) -> None:
        self._versions[name] = self._versions.get(name, 0) + 1
        self._lexical.drop(name)

    # -- collections -------------------------------------------------------------------
    def count_collections(self) -> int:
        """Number of collections."""
        return int(self.client.count_collections())

    def list_collections(self) -> list[CollectionInfo]:
        """All collections, sorted by name, with their passage counts."""
        infos = []
        for col in self.client.list_collections():
            meta = col.metadata or {}
            embedder = meta.get(EMBEDDER_KEY)
            infos.append(
                CollectionInfo(
                    name=col.name,
                    count=col.count(),
                    embedder=str(embedder) if embedder is not None else None,
                )
            )
        return sorted(infos, key=lambda info: info.name)

    def _get(self, name: str) -> Collection:
        col = self._get_any(name)
        built_with = (col.metadata or {}).get(EMBEDDER_KEY)
        if built_with != self.embedder.embedder_id:
            raise EmbedderMismatchError(
                name, str(built_with) if built_with else None, self.embedder.embedder_id
            )
        return col

    def _get_any(self, name: str) -> Collection:
        try:
            return self.client.get_collection(name, embedding_function=None)
        except NotFoundError as exc:
            raise CollectionNotFoundError(name) from exc

    def _create(self, name: str) -> Collection:
        return self.client.get_or_create_collection(
            name,
            configuration={"hnsw": {"space": "cosine"}},
            metadata={EMBEDDER_KEY: self.embedder.embedder_id},
            embedding_function=self.embedder,
        )

    def _get_or_create(self, name: str) -> Collection:
        try:
            return self._get(name)
        except CollectionNotFoundError:
            pass
        self._create(name)
        return self._get(name)

    # -- ingest / query ----------------------------------------------------------------
    def ingest(self, name: str, documents: Sequence[DocumentIn]) -> tuple[int, int]:
        """Split, embed and upsert ``documents``; return (documents, passages).

        Passages follow the documents' structure (``split_passages``); their ids are
        ``<document id>#<n>``, so re-ingesting a document replaces its passages (stale ones
        of a shorter new version are deleted).
        """
        by_id: dict[str, DocumentIn] = {}
        split: dict[str, list[Passage]] = {}
        for index, doc in enumerate(documents):
            doc_id = document_id(doc.text, doc.id)
            previous = by_id.get(doc_id)
            if previous is not None and previous != doc:
                raise DuplicateDocumentError(index, doc_id)
            by_id[doc_id] = doc
            split[doc_id] = split_passages(doc.text)  # never empty: the text is not blank

        ids: list[str] = []
        texts: list[str] = []
        indexed: list[str] = []
        metadatas: list[Metadata] = []
        for doc_id, doc in by_id.items():
            for n, passage in enumerate(split[doc_id]):
                meta: dict[str, Scalar] = {**doc.metadata, "document_id": doc_id, "chunk": n}
                if doc.source is not None:
                    meta["source"] = doc.source
                if passage.section:
                    meta["section"] = passage.section
                ids.append(f"{doc_id}#{n}")
                texts.append(passage.text)
                indexed.append(passage.indexed_text)
                metadatas.append(meta)
        with contextlib.suppress(CollectionNotFoundError):
            self._get(name)  # fail fast on an embedder mismatch, before embedding anything
        embeddings = self.embedder(indexed)

        with self._write_lock:
            col = self._get_or_create(name)
            where = cast(Where, {"document_id": {"$in": list(by_id)}})
            existing = col.get(where=where, include=[])["ids"]
            batch = max(1, int(self.client.get_max_batch_size()))
            for start in range(0, len(ids), batch):
                end = start + batch
                col.upsert(
                    ids=ids[start:end],
                    embeddings=embeddings[start:end],
                    documents=texts[start:end],
                    metadatas=metadatas[start:end],
                )
            stale = sorted(set(existing) - set(ids))
            if stale:
                col.delete(ids=stale)
            self._changed(name)
        log.info("ingested %d documents (%d passages) into %s", len(by_id), len(ids), name)
        return len(by_id), len(ids)

    def reindex(self, name: str) -> tuple[int, str | None]:
        """Re-embed every stored passage of ``name`` with this store's embedder.

        The passages go into a new collection that replaces the old one once complete
        (a failure leaves the old one as it was); a collection this embedder built is left as
        it is. Returns (passages, previous embedder).
        """
        with self._write_lock:
            old = self._get_any(name)
            previous = (old.metadata or {}).get(EMBEDDER_KEY)
            if previous == self.embedder.embedder_id:
                # Already this embedder's: nothing to rebuild. (Rebuilding anyway also cost
                # memory: Chroma keeps a few MB of every collection it dropped; the fuzz test's
                # repeated reindexes ran the service out of its memory limit.)
                return old.count(), str(previous)
            stored = old.get(include=["documents", "metadatas"])
            ids = list(stored["ids"])
            texts = [t or "" for t in (stored["documents"] or [])]
            metas = list(stored["metadatas"] or [])
            embeddings = self.embedder(
                [indexed_text(t, dict(m or {})) for t, m in zip(texts, metas, strict=True)]
            )
            temp = f"reindex-{uuid.uuid4().hex[:16]}"
            new = self._create(temp)
            try:
                batch = max(1, int(self.client.get_max_batch_size()))
                for start in range(0, len(ids), batch):
                    end = start + batch
                    new.upsert(
                        ids=ids[start:end],
                        embeddings=embeddings[start:end],
                        documents=texts[start:end],
                        metadatas=metas[start:end],  # type: ignore[arg-type]
                    )
            except Exception:
                self.client.delete_collection(temp)
                raise
            self.client.delete_collection(name)
            new.modify(name=name)
            self._changed(name)
        log.info(
            "reindexed %s: %d passages, %s -> %s",
            *(name, len(ids), previous, self.embedder.embedder_id),
        )
        return len(ids), str(previous) if previous is not None else None

    def _lexical_index(self, name: str, col: Collection) -> LexicalIndex:
        version = (self._versions.get(name, 0), col.count())
        index = self._lexical.get(name, version)
        if index is None:
            stored = col.get(include=["documents", "metadatas"])
            texts = [
                indexed_text(t or "", dict(m or {}))
                for t, m in zip(stored["documents"] or [], stored["metadatas"] or [], strict=True)
            ]
            index = LexicalIndex.build(stored["ids"], texts)
            self._lexical.put(name, version, index)
        return index

    def query(
        self, name: str, question: str, top_k: int, retrieval: Retrieval = "dense"
    ) -> list[Source]:
        """The ``top_k`` best passages for ``question``, best first.

        ``dense``: nearest by cosine (score = cosine similarity). ``hybrid``: the dense
        ranking of ``HYBRID_CANDIDATES`` passages fused with the BM25 ranking (score = the
        normalised fused score).
        """
        col = self._get(name)
        count = col.count()
        if count == 0:
            return []
        wanted = top_k if retrieval == "dense" else max(top_k, HYBRID_CANDIDATES)
        result = col.query(
            query_embeddings=self.embedder.embed_query([question]),
            n_results=min(wanted, count),
            include=["documents", "metadatas", "distances"],
        )
        ids = result["ids"][0]
        docs = (result["documents"] or [[]])[0]
        metas = (result["metadatas"] or [[]])[0]
        distances = (result["distances"] or [[]])[0]
        found = {
            pid: (text or "", dict(meta or {}))
            for pid, text, meta in zip(ids, docs, metas, strict=True)
        }
        if retrieval == "dense":
            scored = [(p, round(1.0 - float(d), 6)) for p, d in zip(ids, distances, strict=True)]
        else:
            lexical = self._lexical_index(name, col).search(question, wanted)
            scored = reciprocal_rank_fusion([ids, lexical])[:top_k]
            missing = [pid for pid, _ in scored if pid not in found]
            if missing:
                extra = col.get(ids=missing, include=["documents", "metadatas"])
                for pid, text, meta in zip(
                    extra["ids"], extra["documents"] or [], extra["metadatas"] or [], strict=True
                ):
                    found[pid] = (text or "", dict(meta or {}))
        return [_source(pid, *found[pid], score) for pid, score in scored[:top_k]]


def _source(pid: str, text: str, meta: dict[str, Any], score: float) -> Source:
    source, section = meta.get("source"), meta.get("section")
    return Source(
        id=pid,
        document_id=str(meta.get("document_id", pid.rsplit("#", 1)[0])),
        source=str(source) if source is not None else None,
        text=text,
        score=score,
        section=str(section) if section is not None else None,
    )
