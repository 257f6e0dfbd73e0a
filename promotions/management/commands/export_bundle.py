"""Build a release bundle and write it (and its package archive) for an air-gapped transfer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from promotions.errors import PromotionError
from promotions.models import RemoteSpace, Route
from promotions.services import bundles, transfer
from spaces.models import Space


class Command(BaseCommand):
    help = "Build, sign and write a release bundle (and its packages) for another space."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("space", help="the source space's ODCM id (UUID)")
        parser.add_argument("project", help="the Octopus project id (Projects-1)")
        parser.add_argument("release", help="the Octopus release id (Releases-1)")
        parser.add_argument("target", help="the target remote space's ODCM id (UUID)")
        parser.add_argument("--out", required=True, help="folder to write into")
        parser.add_argument("--no-packages", action="store_true", help="bundle only")

    def handle(self, *args: Any, **opts: Any) -> None:
        space = Space.objects.filter(pk=opts["space"]).select_related("instance").first()
        target = RemoteSpace.objects.filter(pk=opts["target"]).first()
        route = Route.objects.filter(space=space, project_id=opts["project"]).first()
        if space is None or target is None or route is None:
            raise CommandError("Unknown space, target, or the project has no route.")
        try:
            promotion = bundles.build(space, route, opts["release"], target)
            out = Path(opts["out"])
            out.mkdir(parents=True, exist_ok=True)
            path = out / f"{promotion.pk}.odcm-bundle"
            path.write_text(promotion.token)
            written = (
                [] if opts["no_packages"] else transfer.export_packages(promotion, out / "packages")
            )
        except PromotionError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Wrote {path} and {len(written)} package(s).")
