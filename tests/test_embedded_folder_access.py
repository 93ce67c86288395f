"""Run as root, the embedded cluster's server runs as an unprivileged user, which must be able to enter every
folder above its data directory: a folder it cannot enter is named in one line, before initdb runs."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pgdba.embedded import EmbeddedCluster, EmbeddedClusterError

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the server runs as another user only for root")


@pytest.fixture
def private_folder() -> Iterator[Path]:
    """A root-owned folder with no search permission for others (as `pgdba schedule --apply` makes
    /var/lib/pgdba)."""
    folder = Path(tempfile.mkdtemp(prefix="pgdba-private-"))
    folder.chmod(0o750)
    yield folder
    for path in sorted(folder.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    folder.rmdir()


def test_a_folder_the_server_cannot_enter_is_named(private_folder: Path) -> None:
    cluster = EmbeddedCluster(private_folder / "embedded")
    with pytest.raises(EmbeddedClusterError) as raised:
        cluster.init()
    message = str(raised.value)
    assert f"cannot enter {private_folder} (mode 750)" in message
    assert f"chmod o+x {private_folder}" in message
    assert not (private_folder / "embedded" / "data").exists()  # nothing half-made for initdb
