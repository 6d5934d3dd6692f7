"""Persistent Chroma store of passages, always embedded by our own embedder."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import chromadb
from chromadb.api.models.Collection import Collection
from chromadb.api.types import Metadata, Where
from chromadb.config import Settings
from chromadb.errors import NotFoundError

from aidock.rag.documents import chunk_text, document_id
from aidock.rag.embeddings import Embedder
from aidock.schemas.rag import CollectionInfo, DocumentIn, Source

log = logging.getLogger(__name__)

Scalar = str | int | float | bool

EMBEDDER_KEY = "aidock_embedder"


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
            f"{current!r}; use another collection or run the service with the matching "
            "embedding configuration"
        )


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
        try:
            col = self.client.get_collection(name, embedding_function=None)
        except NotFoundError as exc:
            raise CollectionNotFoundError(name) from exc
        built_with = (col.metadata or {}).get(EMBEDDER_KEY)
        if built_with != self.embedder.embedder_id:
            raise EmbedderMismatchError(
                name, str(built_with) if built_with else None, self.embedder.embedder_id
            )
        return col

    def _get_or_create(self, name: str) -> Collection:
        try:
            return self._get(name)
        except CollectionNotFoundError:
            pass
        self.client.get_or_create_collection(
            name,
            configuration={"hnsw": {"space": "cosine"}},
            metadata={EMBEDDER_KEY: self.embedder.embedder_id},
            embedding_function=self.embedder,
        )
        return self._get(name)

    # -- ingest / query ----------------------------------------------------------------
    def ingest(self, name: str, documents: Sequence[DocumentIn]) -> tuple[int, int]:
        """Chunk, embed and upsert ``documents``; return (documents, passages).

        Passage ids are ``<document id>#<n>``, so re-ingesting a document replaces its
        passages (stale ones of a shorter new version are deleted).
        """
        by_id: dict[str, DocumentIn] = {}
        for index, doc in enumerate(documents):
            doc_id = document_id(doc.text, doc.id)
            previous = by_id.get(doc_id)
            if previous is not None and previous != doc:
                raise DuplicateDocumentError(index, doc_id)
            by_id[doc_id] = doc

        ids: list[str] = []
        texts: list[str] = []
        metadatas: list[Metadata] = []
        for doc_id, doc in by_id.items():
            for n, passage in enumerate(chunk_text(doc.text)):
                meta: dict[str, Scalar] = {**doc.metadata, "document_id": doc_id, "chunk": n}
                if doc.source is not None:
                    meta["source"] = doc.source
                ids.append(f"{doc_id}#{n}")
                texts.append(passage)
                metadatas.append(meta)
        with contextlib.suppress(CollectionNotFoundError):
            self._get(name)  # fail fast on an embedder mismatch, before embedding anything
        embeddings = self.embedder(texts)

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
        log.info("ingested %d documents (%d passages) into %s", len(by_id), len(ids), name)
        return len(by_id), len(ids)

    def query(self, name: str, question: str, top_k: int) -> list[Source]:
        """The ``top_k`` passages nearest to ``question``, best first."""
        col = self._get(name)
        count = col.count()
        if count == 0:
            return []
        query_embedding = self.embedder.embed_query([question])
        result = col.query(
            query_embeddings=query_embedding,
            n_results=min(top_k, count),
            include=["documents", "metadatas", "distances"],
        )
        ids = result["ids"][0]
        docs = (result["documents"] or [[]])[0]
        metas = (result["metadatas"] or [[]])[0]
        distances = (result["distances"] or [[]])[0]
        hits = []
        for pid, text, meta, distance in zip(ids, docs, metas, distances, strict=True):
            meta = meta or {}
            source = meta.get("source")
            hits.append(
                Source(
                    id=pid,
                    document_id=str(meta.get("document_id", pid.rsplit("#", 1)[0])),
                    source=str(source) if source is not None else None,
                    text=text or "",
                    score=round(1.0 - float(distance), 6),
                )
            )
        return hits
