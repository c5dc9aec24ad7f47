"""Downloads against a real HTTP server on 127.0.0.1: whole, cut and resumed, corrupt, HTML."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest
from conftest import quiet

from sepflow.data.download import Remote, check_checksums, fetch, pinned
from sepflow.data.extract import download_and_extract
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


# --- sizes from the headers, checksum overrides, extracted archives ---------------------------


def test_a_host_serving_another_size_stops_before_the_body_naming_url_sizes_and_the_fix(server, tmp_path):
    data = make_zip(server.root / "a.zip")
    remote = Remote(server.url + "a.zip", md5="0" * 32, size=len(data) + 1000)
    for _ in range(2):  # the same message again: no "deleted, rerun to download again" loop
        with pytest.raises(SepflowError) as err:
            fetch(remote, tmp_path / "raw", quiet, key="datasets.corpus.checksums")
        message = str(err.value)
        assert f"{server.url}a.zip offers {len(data)} bytes, but a.zip is {len(data) + 1000} bytes" in message
        assert "set datasets.corpus.checksums: {a.zip: <its sha256 or md5, as published>}" in message
        assert "otherwise set `mirror` to a host with the original" in message
        assert not (tmp_path / "raw/a.zip.part").exists()
    assert len(server.requests) == 2


def test_a_checksum_override_replaces_the_pinned_checksum_and_size(server, tmp_path):
    old, new = make_zip(tmp_path / "old.zip", n_files=5), make_zip(server.root / "a.zip", n_files=7)
    pinned_old = Remote(server.url + "a.zip", md5=hashlib.md5(old).hexdigest(), size=len(old))
    for digest in (hashlib.sha256(new).hexdigest(), hashlib.md5(new).hexdigest().upper()):
        raw = tmp_path / digest[:6]
        path = fetch(pinned(pinned_old, {"checksums": {"a.zip": digest}}), raw, quiet)
        assert path.read_bytes() == new
    wrong = {"checksums": {"a.zip": "1" * 64}}
    with pytest.raises(SepflowError, match="sha256 expected 1{64}, got .*accept it with .*a.zip: [0-9a-f]{64}"):
        fetch(pinned(pinned_old, wrong), tmp_path / "wrong", quiet)
    with pytest.raises(SepflowError, match=r"datasets.c.checksums.a.zip must be an md5 .* or a sha256"):
        pinned(pinned_old, {"checksums": {"a.zip": "abc"}}, "datasets.c")


def test_an_override_wins_over_the_hash_recorded_at_the_first_download(server, tmp_path):
    raw = tmp_path / "raw"
    make_zip(server.root / "a.zip")
    fetch(Remote(server.url + "a.zip"), raw, quiet)  # no published checksum: its sha256 is recorded
    (raw / "a.zip").unlink()
    newer = make_zip(server.root / "a.zip", n_files=9)  # a newer release, accepted by its checksum
    fetch(pinned(Remote(server.url + "a.zip"), {"checksums": {"a.zip": hashlib.sha256(newer).hexdigest()}}), raw, quiet)
    assert (raw / "a.zip.sha256").read_text().split()[0] == hashlib.sha256(newer).hexdigest()


def test_checksums_may_name_only_the_files_a_recipe_downloads():
    remotes = [Remote("https://host/x/a.zip"), Remote("https://host/x/b.tar.gz")]
    check_checksums({"checksums": {"b.tar.gz": "f" * 32}}, "datasets.c", remotes)
    with pytest.raises(SepflowError, match=r"datasets.c.checksums.c.zip: not a file .*\['a.zip', 'b.tar.gz'\]"):
        check_checksums({"checksums": {"c.zip": "f" * 32}}, "datasets.c", remotes)


def test_an_archive_extracted_then_deleted_is_not_downloaded_again_unless_another_file_is_asked(server, tmp_path):
    data = make_zip(server.root / "a.zip")
    remote = Remote(server.url + "a.zip", md5=hashlib.md5(data).hexdigest(), size=len(data))
    raw, target = tmp_path / "raw", tmp_path / "raw/a"
    download_and_extract(remote, raw, target, quiet)
    for name in ("a.zip", "a.zip.sha256", "a.zip.md5"):  # archives deleted to save space, records too
        (raw / name).unlink()
    download_and_extract(remote, raw, target, quiet)
    assert len(server.requests) == 1 and len(list((target / "clean_testset_wav").iterdir())) == 40
    newer = make_zip(server.root / "a.zip", n_files=3)
    download_and_extract(
        pinned(remote, {"checksums": {"a.zip": hashlib.sha256(newer).hexdigest()}}), raw, target, quiet
    )
    assert len(server.requests) == 2 and len(list((target / "clean_testset_wav").iterdir())) == 3


def test_a_download_larger_than_the_free_space_stops_before_the_body(server, tmp_path, small_disk):
    (server.root / "big.bin").write_bytes(bytes(3_000_000))
    disk = small_disk(tmp_path / "disk", "1m")
    with pytest.raises(
        SepflowError, match=rf"no space left on the disk of {disk} \(downloading big.bin: 3.0 MB needed"
    ):
        fetch(Remote(server.url + "big.bin", kind="file"), disk, quiet)
    assert list(disk.iterdir()) == []


def test_an_archive_kept_from_before_must_be_the_file_an_override_asks_for(server, tmp_path):
    old = make_zip(server.root / "a.zip", n_files=4)
    raw = tmp_path / "raw"
    fetch(Remote(server.url + "a.zip", md5=hashlib.md5(old).hexdigest()), raw, quiet)
    newer = make_zip(server.root / "a.zip", n_files=6)
    with pytest.raises(SepflowError, match=r"raw/a.zip is not the file asked for \(sha256 [0-9a-f]{64}; .*delete it"):
        fetch(
            pinned(Remote(server.url + "a.zip"), {"checksums": {"a.zip": hashlib.sha256(newer).hexdigest()}}),
            raw,
            quiet,
        )
    assert (raw / "a.zip").read_bytes() == old and len(server.requests) == 1
