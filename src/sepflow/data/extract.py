"""Unpacking downloaded archives safely and atomically.

Every entry is checked before anything is written: an absolute name, a `..` component, a
symbolic or hard link, or a device entry could write outside the target folder (or point
there later), so the archive is refused whole with one message naming the entry. The archive
unpacks into a temporary folder that is renamed into place with a completion marker inside,
so an interrupted extraction is redone and a finished one is never repeated.
"""

from __future__ import annotations

import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

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


def extract(archive: Path, target: Path, log=print) -> Path:
    """Unpack a zip or tar archive (any compression) into `target`; a no-op when already done."""
    archive, target = Path(archive), Path(target)
    if is_extracted(target):
        return target
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
        (tmp / MARKER).write_text(archive.name + "\n")
    return target
