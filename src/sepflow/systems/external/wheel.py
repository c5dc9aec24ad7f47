"""The files an external system loads from an installed wheel, found through the wheel's own
record (importlib.metadata) rather than by importing its Python layer: pyrnnoise's imports
audiolab and PyAV (+312 MB of FFmpeg) for a library that needs none of them. A missing
package is one line that names the experiment, the package and the command that installs it.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.metadata
from pathlib import Path

from sepflow.data.download import file_hashes
from sepflow.errors import SepflowError


def installed(
    package: str, system: str, install: str, experiment: str | None = None, version: str | None = None
) -> importlib.metadata.Distribution:
    """The installed distribution `package` (of exactly `version` when one is given: a fact
    the system relies on was measured with it), or the error that says how to install it."""
    who = f"experiment {experiment!r} runs {system}, which" if experiment else system
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        raise SepflowError(f"{who} needs the Python package {package}, not installed: {install}") from None
    if version is not None and dist.version != version:
        raise SepflowError(f"{who} is checked with {package} {version}, found {dist.version}: {install}")
    return dist


def wheel_file(dist: importlib.metadata.Distribution, relative: str, install: str) -> Path:
    """A file the wheel installed, checked to be there (a partial install names the fix)."""
    path = Path(dist.locate_file(relative))
    if not path.is_file():
        raise SepflowError(f"{path} is missing from {dist.name} {dist.version}; reinstall it: {install}")
    return path


def load_library(path: Path, signatures: dict[str, tuple[list, object]]) -> ctypes.CDLL:
    """The shared library with its functions' {name: (argument types, result type)} declared
    (undeclared, ctypes would pass and return C ints)."""
    lib = ctypes.CDLL(str(path))
    for name, (argtypes, restype) in signatures.items():
        function = getattr(lib, name)
        function.argtypes, function.restype = argtypes, restype
    return lib


def sha256(path: Path) -> str:
    """The file's sha256, computed once per file state (the library is 15-17 MB)."""
    stat = path.stat()
    return _sha256(str(path), stat.st_size, stat.st_mtime_ns)


@functools.cache
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    return file_hashes(Path(path))["sha256"]
