"""Extraction refuses entries that escape the target and unpacks atomically, once."""

from __future__ import annotations

import io
import tarfile
import zipfile

import pytest

from sepflow.data.extract import MARKER, extract
from sepflow.errors import SepflowError


def test_zip_and_tar_unpack_with_a_marker(tmp_path):
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as z:
        z.writestr("top/x.wav", b"x")
        z.writestr("top/sub/y.wav", b"yy")
    out = extract(tmp_path / "a.zip", tmp_path / "out")
    assert (out / "top/sub/y.wav").read_bytes() == b"yy" and (out / MARKER).is_file()
    with tarfile.open(tmp_path / "b.tar.gz", "w:gz") as t:
        t.add(out / "top", arcname="musan")
    out2 = extract(tmp_path / "b.tar.gz", tmp_path / "out2")
    assert (out2 / "musan/x.wav").read_bytes() == b"x"
    (out / "top/x.wav").unlink()
    extract(tmp_path / "a.zip", tmp_path / "out")  # done once: the marker stops a rerun
    assert not (out / "top/x.wav").exists()


@pytest.mark.parametrize("name", ["../evil.wav", "top/../../evil.wav", "/abs/evil.wav"])
def test_zip_entry_escaping_the_target_is_refused(tmp_path, name):
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as z:
        z.writestr("top/ok.wav", b"x")
        z.writestr(name, b"x")
    with pytest.raises(SepflowError, match="outside the target") as err:
        extract(tmp_path / "a.zip", tmp_path / "out" / "deep")
    assert name in str(err.value)
    assert not (tmp_path / "out" / "deep").exists() and not (tmp_path / "evil.wav").exists()


def test_zip_symlink_is_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as z:
        info = zipfile.ZipInfo("top/link.wav")
        info.external_attr = 0o120777 << 16
        z.writestr(info, "/etc/passwd")
    with pytest.raises(SepflowError, match="symbolic link"):
        extract(tmp_path / "a.zip", tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE])
def test_tar_links_are_refused(tmp_path, kind):
    with tarfile.open(tmp_path / "a.tar", "w") as t:
        info = tarfile.TarInfo("musan/ok.wav")
        info.size = 1
        t.addfile(info, io.BytesIO(b"x"))
        link = tarfile.TarInfo("musan/link.wav")
        link.type, link.linkname = kind, "/etc/passwd"
        t.addfile(link)
    with pytest.raises(SepflowError, match="is a link"):
        extract(tmp_path / "a.tar", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_tar_dotdot_entry_is_refused(tmp_path):
    with tarfile.open(tmp_path / "a.tar", "w") as t:
        info = tarfile.TarInfo("../evil.wav")
        info.size = 1
        t.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(SepflowError, match="outside the target"):
        extract(tmp_path / "a.tar", tmp_path / "out")
