"""`revue-cdn`: deploy a build directory, print the nginx configuration.

    revue-cdn ingest DIR     hash, rewrite, precompress and make DIR current (progress bar)
    revue-cdn nginx          the nginx configuration for the current deployment
    revue-cdn url PATH       the URL to link a file by (absolute under CDN_BASE_URL)

`ingest` does what the upload API does, in this process: same store
(CDN_STORE_DIR), same database and bus (DATABASE_URL, NATS_URL), so a running
cdn service picks the new deployment up within a second and purges what changed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import nats
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.ext.asyncio import AsyncEngine

from revue.cdn.adapters.asset_store import AssetStore
from revue.cdn.adapters.deployments import DeploymentLog
from revue.cdn.adapters.invalidations import InvalidationStore
from revue.cdn.adapters.purge_backends import purge_backend_for
from revue.cdn.archive import UnsafeArchiveError
from revue.cdn.deploy import Deployer
from revue.cdn.invalidation.dispatcher import Invalidator
from revue.cdn.nginx import brotli_choice, nginx_config
from revue.cdn.policy import ResourceTypes
from revue.cdn.settings import CdnSettings
from revue.common.bus.publish import publish_event
from revue.common.contracts import subjects
from revue.common.contracts.events import AssetPublished, InvalidationCompleted
from revue.common.contracts.subjects import BusTopology
from revue.common.db.engine import create_engine


async def ingest(source: Path, settings: CdnSettings) -> dict:
    store = AssetStore(settings.cdn_store_dir)
    types = ResourceTypes(settings.cdn_cache_policies)
    engine: AsyncEngine = create_engine(settings)
    connection = await nats.connect(**settings.nats_options())
    topology = BusTopology(settings.bus_namespace)

    async def publish(event: AssetPublished) -> None:
        await publish_event(connection, topology, subjects.CDN_ASSET_PUBLISHED, event)

    async def not_here(_: InvalidationCompleted) -> None:
        """Purging is the running service's job; this process only queues."""

    # The invalidator only stores the request here; the service's loop purges it.
    invalidator = Invalidator(
        purge_backend_for(settings), InvalidationStore(engine), not_here, list
    )
    deployer = Deployer(
        store,
        types,
        settings.ingest_options(),
        DeploymentLog(engine),
        None,
        invalidator,
        publish,
    )
    try:
        with Progress(
            TextColumn("[bold]ingest"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("{task.description}"),
        ) as bar:  # fmt: skip
            task = bar.add_task("", total=None)

            def progress(done: int, total: int, path: str) -> None:
                bar.update(task, completed=done, total=total, description=path)

            return await deployer.deploy_directory(source, progress)
    finally:
        await connection.drain()
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="revue-cdn", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    ingest_parser = commands.add_parser("ingest", help="deploy a build directory")
    ingest_parser.add_argument("directory", type=Path)
    commands.add_parser("nginx", help="print the nginx configuration for the current deployment")
    url_parser = commands.add_parser("url", help="the URL of a file of the current deployment")
    url_parser.add_argument("path", help="the file's path in the build, e.g. js/app.js")
    args = parser.parse_args(argv)
    settings = CdnSettings()
    if args.command == "url":
        manifest = AssetStore(settings.cdn_store_dir).current()
        entry = manifest.files.get(args.path.lstrip("/")) if manifest else None
        if entry is None:
            print(f"not in the current deployment: {args.path}", file=sys.stderr)
            return 1
        print(entry.url)
        return 0
    if args.command == "nginx":
        store = AssetStore(settings.cdn_store_dir)
        manifest = store.current()
        if manifest is None:
            print("nothing deployed yet", file=sys.stderr)
            return 1
        types = ResourceTypes(settings.cdn_cache_policies)
        origin = f"127.0.0.1:{settings.port}"
        brotli = brotli_choice(settings.cdn_nginx_brotli)
        print(nginx_config(manifest, store.root, types, origin=origin, brotli=brotli))
        return 0
    if not args.directory.is_dir():
        print(f"not a directory: {args.directory}", file=sys.stderr)
        return 2
    try:
        result = asyncio.run(ingest(args.directory, settings))
    except UnsafeArchiveError as error:
        print(f"build refused: {error}", file=sys.stderr)
        return 2
    print(f"deployment {result['deployment']}: {result['files']} files, "
          f"{len(result['changed_paths'])} changed")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
