"""Retrieval-augmented generation (RAG) AI: Flask service over a Chroma store.

Submodules are imported on demand so that light users (``aidock.rag.documents`` in the
CLI) do not load Flask or Chroma. Importing the package sets two environment defaults
before chromadb can be imported: no telemetry, and SQLite temporary files in the
writable temp dir (the container's root filesystem, including /var/tmp, is read-only).
"""

import os
import tempfile

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("SQLITE_TMPDIR", tempfile.gettempdir())
