"""Unpacking downloaded archives safely and atomically.

Every entry is checked before anything is written: an absolute name, a `..` component, a
symbolic or hard link, or a device entry could write outside the target folder (or point
there later), so the archive is refused whole with one message naming the entry. The archive
unpacks into a temporary folder that is renamed into place with a completion marker inside,
so an interrupted extraction is redone and a finished one is never repeated. The marker
records the archive's name, md5 and sha256: a folder extracted from the file a recipe asks
for needs neither the archive nor a download again (archives may be deleted to save space),
and one extracted from another file (a newer release given by `checksums`) is redone.
"""

from __future__ import annotations

import json
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from sepflow.data.download import Remote, archive_digests, fetch, matches
from sepflow.errors import SepflowError
from sepflow.files import atomic_folder

MARKER = ".extracted"


def _unsafe_name(name: str) -> bool:
    path = PurePosixPath(name.replace("\\", "/"))
    return path.is_absolute() or ".." in path.parts or (len(name) > 1 and name[1] == ":")


def _refuse(archive: Path, entry: str, why: str) -> None:
    raise SepflowError(
        f"refusing to extract {archive}: entry {entry!r} {why}. The archive is not the one "
        "expected (or was tampered with); delete it and download it again from the official source."
    )


def _check_zip(archive: Path, z: zipfile.ZipFile) -> None:
    for info in z.infolist():
        if _unsafe_name(info.filename):
            _refuse(archive, info.filename, "would be written outside the target folder")
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            _refuse(archive, info.filename, "is a symbolic link")


def _check_tar(archive: Path, t: tarfile.TarFile) -> None:
    for member in t.getmembers():
        if _unsafe_name(member.name):
            _refuse(archive, member.name, "would be written outside the target folder")
        if member.issym() or member.islnk():
            _refuse(archive, member.name, "is a link")
        if not (member.isfile() or member.isdir()):
            _refuse(archive, member.name, "is a device or special file")


def is_extracted(target: Path) -> bool:
    return (Path(target) / MARKER).is_file()


def extracted_from(target: Path) -> dict:
    """What the marker of an extracted folder says of its archive: name, md5, sha256 (only the
    name in markers of earlier versions); empty when the folder is not extracted."""
    marker = Path(target) / MARKER
    if not marker.is_file():
        return {}
    text = marker.read_text()
    try:
        return json.loads(text)
    except ValueError:
        return {"archive": text.strip()}


def extract(archive: Path, target: Path, log=print) -> Path:
    """Unpack a zip or tar archive (any compression) into `target`; a no-op when it was
    unpacked from this very archive already."""
    archive, target = Path(archive), Path(target)
    before = extracted_from(target)
    if before.get("archive") == archive.name and (
        "sha256" not in before or before["sha256"] == archive_digests(archive, "sha256")["sha256"]
    ):
        return target
    digests = archive_digests(archive)
    log(f"extracting {archive} -> {target}")
    with atomic_folder(target) as tmp:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                _check_zip(archive, z)
                z.extractall(tmp)
        else:
            try:
                t = tarfile.open(archive)
            except tarfile.TarError:
                raise SepflowError(
                    f"{archive} is neither a zip nor a tar archive; delete it and download it again."
                ) from None
            with t:
                _check_tar(archive, t)
                t.extractall(tmp, filter="data")
        (tmp / MARKER).write_text(json.dumps({"archive": archive.name, **digests}, sort_keys=True) + "\n")
    return target


def download_and_extract(
    remote: Remote, raw_dir: Path, target: Path, log=print, mirror: str | None = None, key: str = "checksums"
) -> Path:
    """`target` unpacked from the archive `remote` names: not downloaded again when `target`
    was extracted from that very file (by name and checksum), even if the archive is gone."""
    before = extracted_from(target)
    if before.get("archive") == remote.filename and "sha256" in before and matches(remote, before):
        return Path(target)
    return extract(fetch(remote, raw_dir, log, mirror, key=key), target, log)
