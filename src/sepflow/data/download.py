"""Downloading corpora and released weights: resumable, verified, retried, atomic.

Built on requests (streaming, HTTP Range) and tenacity (retries with exponential back-off).
pooch was considered: it verifies hashes and downloads to a temporary name, but it cannot
resume a cut transfer with a Range request, which matters for 2-20 GB archives on flaky
links, and it does not tell an HTML page from an archive.

A file is fetched into `{name}.part` beside its target, continued with `Range: bytes=N-`
after a cut, and renamed into place only once it is whole and verified:
- against the published md5 / sha256 when the host publishes one (a sha256 may be given as a
  prefix of at least 8 hex digits, torch.hub's convention for released weights);
- otherwise by its size where known and by opening it as the archive it should be, and the
  sha256 of the first good download is recorded in `{name}.sha256` beside it, so a later
  download (after the archive was deleted, or from a mirror) is checked against it.
Hosts that answer with an HTML page instead of the archive (DataShare does) are caught by
the content type and by the file's first bytes.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from sepflow.errors import SepflowError
from sepflow.files import write_atomic

Log = Callable[[str], None]
KINDS = ("zip", "tar", "file")
_CHUNK = 1 << 20
_NET_CHUNK = 1 << 16  # a cut connection loses at most this much of what it carried


@dataclass(frozen=True)
class Remote:
    """One file to fetch: its URL, the name it takes on disk, and what is known of it."""

    url: str
    name: str = ""
    md5: str | None = None
    sha256: str | None = None
    size: int | None = None
    kind: str = "zip"  # zip | tar (any compression) | file: what the content must open as

    @property
    def filename(self) -> str:
        return self.name or Path(urlsplit(self.url).path).name


class _Transient(Exception):
    """A cut connection or a server error (5xx): retried, continuing from where it stopped."""


def mirrored(url: str, mirror: str | None) -> str:
    """The URL of the same file on a mirror: the mirror base + the original file name."""
    if not mirror:
        return url
    return mirror.rstrip("/") + "/" + Path(urlsplit(url).path).name


def file_hashes(path: Path) -> dict[str, str]:
    """md5 and sha256 of a file, in one pass."""
    md5, sha = hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            md5.update(chunk)
            sha.update(chunk)
    return {"md5": md5.hexdigest(), "sha256": sha.hexdigest()}


def _looks_like_html(head: bytes) -> bool:
    text = head.lstrip().lower()
    return text.startswith((b"<!doctype html", b"<html", b"<head", b"<?xml")) or b"<html" in text[:512]


def _check_archive(path: Path, kind: str) -> str | None:
    """Why the file is not the archive it should be, or None when it opens and reads whole."""
    try:
        if kind == "zip":
            if not zipfile.is_zipfile(path):
                return "it is not a zip archive"
            with zipfile.ZipFile(path) as z:
                bad = z.testzip()
            return f"its entry {bad} fails its CRC check" if bad else None
        if kind == "tar":
            with tarfile.open(path) as t:
                for _ in t:
                    pass
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        return f"it does not read as a {kind} archive ({exc})"
    return None


def _attempt(url: str, part: Path, kind: str, log: Log, timeout: float) -> None:
    """One attempt: continue `part` from its current size; raise _Transient on a short read or a server error."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"Accept-Encoding": "identity"}  # byte offsets must be offsets in the file itself
    if have:
        headers["Range"] = f"bytes={have}-"
    with requests.get(url, headers=headers, stream=True, timeout=timeout, allow_redirects=True) as r:
        if r.status_code == 416:  # nothing left to send: the part file is already whole
            return
        if r.status_code >= 500:
            raise _Transient(f"the server answered {r.status_code}")
        if r.status_code >= 400:
            raise SepflowError(
                f"download of {part.name[:-5]} failed: {url} answered {r.status_code} "
                f"({r.reason}); check the URL, or set `mirror` or `local_path`."
            )
        if kind != "file" and "text/html" in r.headers.get("Content-Type", ""):
            raise SepflowError(
                f"download of {part.name[:-5]} failed: {url} answered with an HTML page, not the archive. "
                "The host may need a login or be down; download it in a browser into "
                f"{part.parent} and rerun, or set `mirror` / `local_path`."
            )
        if have and r.status_code != 206:
            log(f"{url}: the server ignores range requests; starting over")
            have = 0
        length = r.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        done, last = have, time.monotonic()
        with open(part, "ab" if have else "wb") as f:
            for chunk in r.iter_content(_NET_CHUNK):
                f.write(chunk)
                done += len(chunk)
                if time.monotonic() - last > 10:
                    share = f" ({100 * done / total:.1f} %)" if total else ""
                    log(f"{part.name[:-5]}: {done / 1e6:.1f} MB{share}")
                    last = time.monotonic()
        if total is not None and done < total:
            raise _Transient(f"the connection ended after {done} of {total} bytes")


def fetch(
    remote: Remote,
    dest_dir: Path,
    log: Log = print,
    mirror: str | None = None,
    attempts: int = 6,
    backoff: float = 2.0,
    timeout: float = 60.0,
) -> Path:
    """Fetch `remote` into dest_dir (resuming a partial download), verify it, return its path."""
    if remote.kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / remote.filename
    part = dest_dir / (remote.filename + ".part")
    record = dest_dir / (remote.filename + ".sha256")
    if target.exists():
        return target
    url = mirrored(remote.url, mirror)
    log(f"downloading {url} -> {target}" + (" (resuming)" if part.exists() else ""))
    retrying = Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=backoff, max=120),
        retry=retry_if_exception_type(
            (_Transient, requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
        ),
        before_sleep=lambda s: log(
            f"{remote.filename}: attempt {s.attempt_number} failed ({s.outcome.exception()}); retrying"
        ),
        reraise=True,
    )
    try:
        retrying(_attempt, url, part, remote.kind, log, timeout)
    except (_Transient, requests.RequestException) as exc:
        raise SepflowError(
            f"download of {remote.filename} from {url} failed after {attempts} attempts ({exc}). "
            f"The partial file {part} is kept: rerun to resume, or set `mirror` to another host."
        ) from None
    _verify(remote, part, record, url)
    os.replace(part, target)
    log(f"{target.name}: complete and verified")
    return target


def _verify(remote: Remote, part: Path, record: Path, url: str) -> None:
    """Check the finished part file; on failure delete it and raise one message saying why."""

    def fail(what: str, expected: str, actual: str) -> None:
        part.unlink()
        raise SepflowError(
            f"corrupt download: {remote.filename} from {url}: {what} expected {expected}, got {actual}. "
            f"The file was deleted; rerun to download it again, or set `mirror` to another host"
            + (f" (if the host changed the file on purpose, delete {record})" if record.exists() else "")
            + "."
        )

    def broken(problem: str) -> None:
        part.unlink()
        raise SepflowError(
            f"corrupt download: {remote.filename} from {url}: {problem}. The file was deleted; "
            "rerun, or download it by hand and put it there, or set `mirror` / `local_path`."
        )

    if remote.kind != "file":
        with open(part, "rb") as f:
            if _looks_like_html(f.read(1024)):
                broken("it is an HTML page, not an archive (the host answered with a web page)")
    size = part.stat().st_size
    if remote.size is not None and size != remote.size:
        fail("size", f"{remote.size} bytes", f"{size} bytes")
    hashes = file_hashes(part)
    if remote.md5 and hashes["md5"] != remote.md5.lower():
        fail("md5", remote.md5, hashes["md5"])
    if remote.sha256:
        expected = remote.sha256.lower()
        if len(expected) < 8 or not hashes["sha256"].startswith(expected):
            fail("sha256", expected, hashes["sha256"])
    if not (remote.md5 or remote.sha256) and remote.kind != "file":
        problem = _check_archive(part, remote.kind)
        if problem:
            broken(problem)
    if record.exists():
        recorded = record.read_text().split()[0]
        if recorded != hashes["sha256"]:
            fail("sha256 (recorded at the first download)", recorded, hashes["sha256"])
    else:
        write_atomic(record, f"{hashes['sha256']}  {remote.filename}\n")
