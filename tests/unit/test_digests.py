"""``file_sha256``: the same digest for a path, its string and an open file."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

from aidock.digests import file_sha256


def test_path_string_open_file_and_tar_member_agree(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000  # more than one read buffer
    path = tmp_path / "blob"
    path.write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()
    assert file_sha256(path) == file_sha256(str(path)) == expected
    with path.open("rb") as fh:
        assert file_sha256(fh) == expected
    with tarfile.open(tmp_path / "a.tar.gz", "w:gz") as tar:
        tar.add(path, "blob")
    with tarfile.open(tmp_path / "a.tar.gz") as tar:
        member = tar.extractfile("blob")
        assert member is not None
        assert file_sha256(member) == expected
    assert file_sha256(io.BytesIO(b"")) == hashlib.sha256(b"").hexdigest()
