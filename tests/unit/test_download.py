"""Downloads against a real HTTP server on 127.0.0.1: whole, cut and resumed, corrupt, HTML."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest
from conftest import quiet

from sepflow.data.download import Remote, fetch
from sepflow.errors import SepflowError


def make_zip(path: Path, n_files: int = 40) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for i in range(n_files):
            z.writestr(f"clean_testset_wav/p232_{i:03d}.wav", bytes([i % 251]) * 10000)
    return path.read_bytes()


def test_full_download_verified_by_md5_and_sha256(server, tmp_path):
    data = make_zip(server.root / "a.zip")
    remote = Remote(
        server.url + "a.zip", md5=hashlib.md5(data).hexdigest(), sha256=hashlib.sha256(data).hexdigest(), size=len(data)
    )
    path = fetch(remote, tmp_path / "raw", quiet)
    assert path.read_bytes() == data
    assert not (tmp_path / "raw" / "a.zip.part").exists()
    assert (tmp_path / "raw" / "a.zip.sha256").read_text().split()[0] == hashlib.sha256(data).hexdigest()


def test_cut_transfer_resumes_with_a_range_request(server, tmp_path):
    data = make_zip(server.root / "a.zip")
    cut = len(data) // 2
    server.cut_once["a.zip"] = cut
    path = fetch(Remote(server.url + "a.zip", md5=hashlib.md5(data).hexdigest()), tmp_path / "raw", quiet, backoff=0.01)
    assert path.read_bytes() == data
    (first, no_range), (second, resume) = server.requests
    assert first == second == "a.zip" and no_range is None
    assert 0 < int(resume.removeprefix("bytes=").rstrip("-")) <= cut


def test_partial_file_from_an_earlier_run_is_continued(server, tmp_path):
    data = make_zip(server.root / "a.zip")
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "a.zip.part").write_bytes(data[:1000])
    fetch(Remote(server.url + "a.zip", sha256=hashlib.sha256(data).hexdigest()[:16]), tmp_path / "raw", quiet)
    assert (tmp_path / "raw" / "a.zip").read_bytes() == data
    assert server.requests == [("a.zip", "bytes=1000-")]


def test_wrong_checksum_names_file_expected_and_actual(server, tmp_path):
    data = make_zip(server.root / "a.zip")
    with pytest.raises(SepflowError) as err:
        fetch(Remote(server.url + "a.zip", md5="0" * 32), tmp_path / "raw", quiet)
    message = str(err.value)
    assert "a.zip" in message and "0" * 32 in message and hashlib.md5(data).hexdigest() in message
    assert "rerun" in message
    assert not any((tmp_path / "raw").iterdir())


def test_html_page_where_a_zip_was_expected(server, tmp_path):
    server.html.add("a.zip")
    with pytest.raises(SepflowError, match="HTML page"):
        fetch(Remote(server.url + "a.zip"), tmp_path / "raw", quiet)
    # served with a binary content type, the body is still recognised as a web page
    (server.root / "b.zip").write_bytes(b"<!DOCTYPE html>\n<html><body>moved</body></html>")
    with pytest.raises(SepflowError, match="HTML page"):
        fetch(Remote(server.url + "b.zip"), tmp_path / "raw", quiet)


def test_unpublished_checksum_recorded_then_enforced(server, tmp_path):
    data = make_zip(server.root / "a.zip")
    raw = tmp_path / "raw"
    fetch(Remote(server.url + "a.zip"), raw, quiet)
    (raw / "a.zip").unlink()
    make_zip(server.root / "a.zip", n_files=21)  # the host now serves another file
    with pytest.raises(SepflowError, match="recorded at the first download") as err:
        fetch(Remote(server.url + "a.zip"), raw, quiet)
    assert hashlib.sha256(data).hexdigest() in str(err.value)


def test_truncated_zip_without_checksum_is_refused(server, tmp_path):
    data = make_zip(server.root / "full.zip")
    (server.root / "a.zip").write_bytes(data[: len(data) // 2])
    with pytest.raises(SepflowError, match="not a zip archive|does not read"):
        fetch(Remote(server.url + "a.zip"), tmp_path / "raw", quiet)


def test_mirror_replaces_the_host(server, tmp_path):
    data = make_zip(server.root / "a.zip")
    path = fetch(Remote("https://unreachable.invalid/x/a.zip"), tmp_path / "raw", quiet, mirror=server.url + "/")
    assert path.read_bytes() == data


def test_server_without_ranges_restarts_the_file(server, tmp_path):
    data = make_zip(server.root / "a.zip")
    server.no_ranges = True
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "a.zip.part").write_bytes(b"junk" * 100)
    path = fetch(Remote(server.url + "a.zip", md5=hashlib.md5(data).hexdigest()), tmp_path / "raw", quiet)
    assert path.read_bytes() == data


def test_missing_file_is_not_retried_and_a_dead_host_is_retried_then_reported(server, tmp_path):
    with pytest.raises(SepflowError, match="answered 404"):
        fetch(Remote(server.url + "none.zip"), tmp_path / "raw", quiet)
    assert len(server.requests) == 1
    dead = "http://127.0.0.1:9/a.zip"  # the discard port: nothing listens
    with pytest.raises(SepflowError, match="failed after 2 attempts.*rerun to resume"):
        fetch(Remote(dead), tmp_path / "raw", quiet, attempts=2, backoff=0.01)


def test_server_error_is_retried(server, tmp_path):
    data = make_zip(server.root / "a.zip")
    server.fail_once["a.zip"] = 503
    assert fetch(Remote(server.url + "a.zip"), tmp_path / "raw", quiet, backoff=0.01).read_bytes() == data
    assert len(server.requests) == 2
