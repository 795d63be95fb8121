"""Safe extraction of an uploaded build (tar.gz or zip).

An archive is hostile until proven otherwise. Every member is checked before
a byte is written: a relative path that stays inside the target (no absolute
paths, no `..`, no drive letters), a regular file or directory (no symbolic or
hard links, devices or FIFOs), and limits on the number of members
(directories count too), their total size and the compression ratio (a zip
or gzip bomb is refused while it is being read, not after filling the disk).
A tar's extended headers (PAX, GNU long names) are capped before they are
read, since tarfile reads each one whole into memory; a zip's declared entry
count is checked before its central directory is parsed. Extraction goes to
a fresh directory that the caller discards on any error, so nothing is left
behind.
"""

from __future__ import annotations

import shutil
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

CHUNK = 64 * 1024


class UnsafeArchiveError(ValueError):
    """The archive was refused; the message says why."""


# Member types whose header is followed by more header (PAX records, a long name).
EXTENDED_HEADERS = (
    tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE,
    tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.GNUTYPE_SPARSE,
)  # fmt: skip


@dataclass(frozen=True)
class ArchiveLimits:
    max_files: int = 10_000  # members of every kind: files and directories
    max_total_bytes: int = 512 * 1024 * 1024
    max_ratio: float = 200.0  # uncompressed bytes per archive byte
    max_header_bytes: int = 64 * 1024  # one extended tar header (a path is at most 4 KiB)


def safe_member_path(name: str) -> PurePosixPath:
    cleaned = name.replace("\\", "/")
    path = PurePosixPath(cleaned)
    if cleaned.startswith("/") or path.is_absolute() or (path.parts and ":" in path.parts[0]):
        raise UnsafeArchiveError(f"absolute path in archive: {name!r}")
    if ".." in path.parts:
        raise UnsafeArchiveError(f"path traversal in archive: {name!r}")
    if any(ord(ch) < 32 for ch in cleaned):
        raise UnsafeArchiveError(f"control character in archive path: {name!r}")
    parts = [part for part in path.parts if part not in ("", ".")]
    if not parts:
        raise UnsafeArchiveError(f"empty path in archive: {name!r}")
    return PurePosixPath(*parts)


def extract(archive: Path, target: Path, limits: ArchiveLimits | None = None) -> int:
    """Extract into `target` (which must not exist); returns the number of files."""
    target.mkdir(parents=True)
    budget = _Budget(limits or ArchiveLimits(), archive.stat().st_size)
    try:
        if zipfile.is_zipfile(archive):
            return _extract_zip(archive, target, budget)
        # Not tarfile.is_tarfile: it reads the first member's headers uncapped.
        return _extract_tar(archive, target, budget)
    except tarfile.ReadError as error:
        shutil.rmtree(target, ignore_errors=True)
        raise UnsafeArchiveError(f"not a tar.gz or zip archive ({error})") from error
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as error:
        shutil.rmtree(target, ignore_errors=True)
        raise UnsafeArchiveError(f"corrupt archive: {error}") from error
    except UnsafeArchiveError:
        shutil.rmtree(target, ignore_errors=True)
        raise


class _Budget:
    def __init__(self, limits: ArchiveLimits, archive_bytes: int) -> None:
        self.limits = limits
        self.max_bytes = min(limits.max_total_bytes, int(max(archive_bytes, 1) * limits.max_ratio))
        self.files = 0
        self.bytes = 0

    def member(self) -> None:
        self.files += 1
        if self.files > self.limits.max_files:
            raise UnsafeArchiveError(f"more than {self.limits.max_files} files or directories")

    def header(self, size: int) -> None:
        if size > self.limits.max_header_bytes:
            raise UnsafeArchiveError(
                f"an extended tar header of {size} bytes (the limit is"
                f" {self.limits.max_header_bytes})"
            )
        self.spend(size)

    def spend(self, count: int) -> None:
        self.bytes += count
        if self.bytes > self.limits.max_total_bytes:
            raise UnsafeArchiveError(f"more than {self.limits.max_total_bytes} bytes uncompressed")
        if self.bytes > self.max_bytes:
            raise UnsafeArchiveError(
                f"compression ratio above {self.limits.max_ratio:g}: refused as a possible bomb"
            )


def _write(source: IO[bytes], destination: Path, budget: _Budget) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    with destination.open("xb") as out:  # "x": a second member of the same name is refused
        for chunk in iter(lambda: source.read(CHUNK), b""):
            budget.spend(len(chunk))
            out.write(chunk)


def _extract_zip(archive: Path, target: Path, budget: _Budget) -> int:
    with archive.open("rb") as raw:
        # The end record declares the entry count: refuse before the central
        # directory (a ZipInfo per entry) is read into memory.
        end = zipfile._EndRecData(raw)  # type: ignore[attr-defined]
    if end is None:
        raise UnsafeArchiveError("corrupt archive: no end of central directory")
    declared = end[zipfile._ECD_ENTRIES_TOTAL]  # type: ignore[attr-defined]
    if declared > budget.limits.max_files:
        raise UnsafeArchiveError(f"more than {budget.limits.max_files} files or directories")
    files = 0
    with zipfile.ZipFile(archive) as bundle:
        for info in bundle.infolist():
            budget.member()
            relative = safe_member_path(info.filename)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise UnsafeArchiveError(f"link in archive: {info.filename!r}")
            if info.is_dir():
                (target / relative).mkdir(parents=True, exist_ok=True)
                continue
            files += 1
            with bundle.open(info) as source:
                _write(source, target / relative, budget)
    return files


def _extract_tar(archive: Path, target: Path, budget: _Budget) -> int:
    files = 0
    with tarfile.open(archive, mode="r:*", tarinfo=_capped_tarinfo(budget)) as bundle:
        for member in _members(bundle):
            budget.member()
            relative = safe_member_path(member.name)
            if member.isdir():
                (target / relative).mkdir(parents=True, exist_ok=True)
                continue
            files += 1
            source = bundle.extractfile(member)
            if source is None:
                raise UnsafeArchiveError(f"unreadable member: {member.name!r}")
            _write(source, target / relative, budget)
    return files


def _capped_tarinfo(budget: _Budget) -> type[tarfile.TarInfo]:
    """A TarInfo that charges every extended header to the budget before reading it."""

    class CappedTarInfo(tarfile.TarInfo):
        def _proc_member(self, tar: tarfile.TarFile) -> tarfile.TarInfo:
            if self.type in EXTENDED_HEADERS:
                budget.header(self.size)
            return super()._proc_member(tar)  # type: ignore[misc]

    return CappedTarInfo


def _members(bundle: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    # Iterating (not getmembers()) reads headers as it goes: a bomb of empty
    # headers hits the file limit before it is all in memory.
    for member in bundle:
        if member.issym() or member.islnk():
            raise UnsafeArchiveError(f"link in archive: {member.name!r}")
        if not (member.isfile() or member.isdir()):
            raise UnsafeArchiveError(f"special file in archive: {member.name!r}")
        yield member
