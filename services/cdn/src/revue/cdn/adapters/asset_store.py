"""Where deployments live on disk, and which one is current.

    <root>/objects/<hashed path>[.br|.gz]        content-addressed, shared by deployments
    <root>/deployments/<id>/files/<path>[...]    files that keep their name (HTML)
    <root>/deployments/<id>/manifest.json
    <root>/current                               the current deployment's id

Every file is written to a temporary name and renamed into place, and the
current deployment switches with one rename, so a reader never sees half a
file or half a deployment.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from revue.cdn.manifest import AssetEntry, Manifest

SUFFIXES = {"identity": "", "br": ".br", "gzip": ".gz"}


class AssetStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "objects").mkdir(parents=True, exist_ok=True)
        (root / "deployments").mkdir(parents=True, exist_ok=True)

    # --- where things are ------------------------------------------------------------

    def file_for(self, deployment: str, path: str, entry: AssetEntry, encoding: str) -> Path:
        if entry.hashed:
            base = self.root / "objects" / entry.path.removeprefix("/assets/")
        else:
            base = self.root / "deployments" / deployment / "files" / path
        return base.with_name(base.name + SUFFIXES[encoding])

    def object_for(self, hashed: str) -> Path:
        """Where a content-hashed file's identity bytes are (or would be)."""
        return self.root / "objects" / hashed

    def stored_variants(self, identity: Path) -> dict[str, bytes]:
        """The precompressed variants kept beside a stored hashed file."""
        found = {}
        for encoding in ("br", "gzip"):
            variant = identity.with_name(identity.name + SUFFIXES[encoding])
            if variant.exists():
                found[encoding] = variant.read_bytes()
        return found

    def manifest_path(self, deployment: str) -> Path:
        return self.root / "deployments" / deployment / "manifest.json"

    # --- writing -----------------------------------------------------------------------

    def write(self, target: Path, data: bytes, *, shared: bool = False) -> None:
        """Write atomically; a content-addressed (`shared`) file already there is kept."""
        if shared and target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(descriptor, "wb") as out:
                out.write(data)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def save_manifest(self, manifest: Manifest) -> None:
        self.write(
            self.manifest_path(manifest.deployment), manifest.model_dump_json(indent=1).encode()
        )

    def make_current(self, deployment: str) -> None:
        self.write(self.root / "current", deployment.encode())

    # --- reading -----------------------------------------------------------------------

    def current_id(self) -> str | None:
        try:
            return (self.root / "current").read_text().strip() or None
        except FileNotFoundError:
            return None

    def current(self) -> Manifest | None:
        deployment = self.current_id()
        return self.load(deployment) if deployment else None

    def load(self, deployment: str) -> Manifest:
        return Manifest.model_validate_json(self.manifest_path(deployment).read_bytes())

    def previous(self, manifest: Manifest, count: int) -> list[Manifest]:
        """The `count` deployments before `manifest`, newest first."""
        earlier = [d for d in self.deployments() if d < manifest.deployment]
        return [self.load(d) for d in reversed(earlier[-count:])] if count else []

    def deployments(self) -> list[str]:
        return sorted(path.name for path in (self.root / "deployments").iterdir() if path.is_dir())
