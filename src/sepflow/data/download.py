"""Downloading corpora and released weights: resumable, verified, retried, atomic.

Built on requests (streaming, HTTP Range) and tenacity (retries with exponential back-off).
pooch was considered: it verifies hashes and downloads to a temporary name, but it cannot
resume a cut transfer with a Range request, which matters for 2-20 GB archives on flaky
links, and it does not tell an HTML page from an archive.

A file is fetched into `{name}.part` beside its target, continued with `Range: bytes=N-`
after a cut, and renamed into place only once it is whole and verified:
- against the published md5 / sha256 when the host publishes one (a sha256 may be given as a
  prefix of at least 8 hex digits, torch.hub's convention for released weights), or against
  the dataset's own `checksums: {file name: sha256 or md5}`, which replaces a recipe's pinned
  checksum and size (a mirror, or a newer release of the corpus);
- otherwise by opening it as the archive it should be, and the sha256 of the first good
  download is recorded in `{name}.sha256` beside it, so a later download (after the archive
  was deleted, or from a mirror) is checked against it.
The size is checked from the response's headers, before the body arrives: a host serving
another file fails at once, naming both sizes, and so does a disk too small for it.
Hosts that answer with an HTML page instead of the archive (DataShare does) are caught by
the content type and by the file's first bytes. Every verified download leaves its
`{name}.sha256` and `{name}.md5` (sha256sum / md5sum format), which an extraction records,
so an archive deleted after its extraction is not downloaded again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import tarfile
import time
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from sepflow.disk import require_space, space_for
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


def pinned(remote: Remote, cfg: dict, where: str = "datasets.NAME") -> Remote:
    """`remote` with the checksum the dataset's `checksums` gives for its file (an md5 of 32
    or a sha256 of 64 hex digits) in place of the recipe's pinned checksum and size."""
    given = (cfg.get("checksums") or {}).get(remote.filename)
    if given is None:
        return remote
    digest = _digest(given, f"{where}.checksums.{remote.filename}")
    md5, sha256 = (digest, None) if len(digest) == 32 else (None, digest)
    return dataclasses.replace(remote, md5=md5, sha256=sha256, size=None)


def _digest(value, where: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-fA-F]{32}|[0-9a-fA-F]{64}", value):
        raise SepflowError(f"{where} must be an md5 (32 hex digits) or a sha256 (64 hex digits), got {value!r}")
    return value.lower()


def check_checksums(cfg: dict, where: str, remotes: Iterable[Remote]) -> None:
    """The dataset's `checksums` name files the recipe downloads, each with a well-formed
    md5 or sha256 (for a recipe's config check)."""
    given = cfg.get("checksums")
    if given is None:
        return
    names = sorted({r.filename for r in remotes})
    if not isinstance(given, dict):
        raise SepflowError(f"{where}.checksums maps file names to an md5 or sha256, e.g. {{{names[0]}: <sha256>}}")
    for name, value in given.items():
        if name not in names:
            raise SepflowError(f"{where}.checksums.{name}: not a file this recipe downloads; its files: {names}")
        _digest(value, f"{where}.checksums.{name}")


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


def _offered_size(r: requests.Response, have: int) -> int | None:
    """The whole file's size from the headers: Content-Range of a partial answer, or Content-Length."""
    if r.status_code == 206:
        m = re.fullmatch(r"bytes \d+-\d+/(\d+)", r.headers.get("Content-Range", ""))
        if m:
            return int(m.group(1))
    length = r.headers.get("Content-Length")
    return None if length is None else (have if r.status_code == 206 else 0) + int(length)


def _check_offer(remote: Remote, part: Path, url: str, total: int | None, have: int, key: str) -> None:
    """Before the body: the size the recipe pins, and room for the rest on the disk."""
    if total is None:
        return
    if remote.size is not None and total != remote.size:
        raise SepflowError(
            f"download of {remote.filename} stopped before it began: {url} offers {total} bytes, "
            f"but {remote.filename} is {remote.size} bytes, so the host serves another file. If that file "
            f"is the one you want (a newer release), set {key}: {{{remote.filename}: <its sha256 or md5, as published>}}; "
            "otherwise set `mirror` to a host with the original."
        )
    require_space(part.parent, total - have, f"downloading {remote.filename}")


def _attempt(url: str, part: Path, remote: Remote, log: Log, timeout: float, key: str) -> None:
    """One attempt: continue `part` from its current size; raise _Transient on a short read or a server error."""
    kind = remote.kind
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
        total = _offered_size(r, have)
        _check_offer(remote, part, url, total, have, key)
        done, last = have, time.monotonic()
        with space_for(part.parent, total, f"downloading {remote.filename}"), open(part, "ab" if have else "wb") as f:
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
    key: str = "the dataset's checksums",
) -> Path:
    """Fetch `remote` into dest_dir (resuming a partial download), verify it, return its path.
    `key` is the config key of checksum overrides, named in messages (datasets.NAME.checksums)."""
    if remote.kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / remote.filename
    part = dest_dir / (remote.filename + ".part")
    record = dest_dir / (remote.filename + ".sha256")
    if target.exists():
        _check_kept(remote, target, key)
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
        retrying(_attempt, url, part, remote, log, timeout, key)
    except (_Transient, requests.RequestException) as exc:
        raise SepflowError(
            f"download of {remote.filename} from {url} failed after {attempts} attempts ({exc}). "
            f"The partial file {part} is kept: rerun to resume, or set `mirror` to another host."
        ) from None
    _verify(remote, part, record, url, key)
    os.replace(part, target)
    log(f"{target.name}: complete and verified")
    return target


def archive_digests(archive: Path, *algos: str) -> dict[str, str]:
    """md5 and sha256 (or only `algos`) of a downloaded archive, from the records its
    verification left beside it (read, not recomputed), else computed."""
    records = {algo: archive.with_name(f"{archive.name}.{algo}") for algo in algos or ("md5", "sha256")}
    if all(p.is_file() for p in records.values()):
        return {algo: p.read_text().split()[0] for algo, p in records.items()}
    return file_hashes(archive)


def matches(remote: Remote, digests: dict[str, str]) -> bool:
    """Whether an archive with these digests is the file `remote` pins (anything, if it pins none)."""
    if remote.md5 and digests.get("md5") != remote.md5.lower():
        return False
    return not remote.sha256 or digests.get("sha256", "").startswith(remote.sha256.lower())


def _write_records(archive: Path, digests: dict[str, str]) -> None:
    for algo in ("sha256", "md5"):
        write_atomic(archive.with_name(f"{archive.name}.{algo}"), f"{digests[algo]}  {archive.name}\n")


def _check_kept(remote: Remote, target: Path, key: str) -> None:
    """A file downloaded (or put there by hand) before is still the one `remote` pins: the
    pins may have changed since (a `checksums` entry for a newer release)."""
    if not (remote.md5 or remote.sha256):
        return
    recorded = all(target.with_name(f"{target.name}.{algo}").is_file() for algo in ("md5", "sha256"))
    digests = archive_digests(target)
    if not recorded:
        _write_records(target, digests)  # hashed once: later checks read the records
    if not matches(remote, digests):
        pin = f"md5 {remote.md5}" if remote.md5 else f"sha256 {remote.sha256}"
        raise SepflowError(
            f"{target} is not the file asked for ({pin}; it has sha256 {digests['sha256']}): delete it to "
            f"download that one, or give its checksum in {key}."
        )


def _verify(remote: Remote, part: Path, record: Path, url: str, key: str) -> None:
    """Check the finished part file; on failure delete it and raise one message saying why."""
    pins = bool(remote.md5 or remote.sha256)

    def fail(what: str, expected: str, actual: str, sha256: str) -> None:
        part.unlink()
        raise SepflowError(
            f"corrupt download: {remote.filename} from {url}: {what} expected {expected}, got {actual}. "
            "The file was deleted; rerun to download it again, or set `mirror` to another host. If the host "
            f"changed the file on purpose, accept it with {key}: {{{remote.filename}: {sha256}}}."
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
    hashes = file_hashes(part)
    if remote.size is not None and size != remote.size:
        fail("size", f"{remote.size} bytes", f"{size} bytes", hashes["sha256"])
    if remote.md5 and hashes["md5"] != remote.md5.lower():
        fail("md5", remote.md5, hashes["md5"], hashes["sha256"])
    if remote.sha256:
        expected = remote.sha256.lower()
        if len(expected) < 8 or not hashes["sha256"].startswith(expected):
            fail("sha256", expected, hashes["sha256"], hashes["sha256"])
    if not pins and remote.kind != "file":
        problem = _check_archive(part, remote.kind)
        if problem:
            broken(problem)
    if not pins and record.exists():  # a pinned checksum (or the dataset's own) says which file is right
        recorded = record.read_text().split()[0]
        if recorded != hashes["sha256"]:
            fail("sha256 (recorded at the first download)", recorded, hashes["sha256"], hashes["sha256"])
    _write_records(part.with_name(remote.filename), hashes)
