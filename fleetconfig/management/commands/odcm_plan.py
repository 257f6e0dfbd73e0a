from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from fleetconfig import render
from fleetconfig.models import Plan
from fleetconfig.services import make_plan

from ._common import actor, read_file


class Command(BaseCommand):
    help = (
        "Show what applying a fleet file would create, change and delete. Exit code 0: no "
        "change; 2: changes; 1: the file is invalid (every error with its line)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The YAML file, or - for standard input.")
        parser.add_argument(
            "--prune",
            action="store_true",
            help="Plan deleting what an earlier apply created and the file no longer has.",
        )
        parser.add_argument("--json", action="store_true", help="Print the plan as JSON.")
        parser.add_argument("--as", dest="username", help="Record the plan as this user.")

    def handle(self, *args: Any, **options: Any) -> None:
        plan = make_plan(
            read_file(options["file"]),
            actor=actor(options["username"]),
            prune=options["prune"],
            source=Plan.Source.CLI,
        )
        if options["json"]:
            self.stdout.write(json.dumps(render.as_json(plan), indent=2, ensure_ascii=False))
        else:
            out = self.stderr if plan.status == Plan.Status.INVALID else self.stdout
            out.write(render.text(plan), ending="")
            if plan.status != Plan.Status.INVALID and plan.change_count:
                self.stdout.write(f"Plan id: {plan.id}")
        sys.exit(_code(plan))


def _code(plan: Plan) -> int:
    if plan.status == Plan.Status.INVALID:
        return 1
    changes = [
        c
        for c in plan.changes
        if c["action"] in ("create", "change") or (c["action"] == "delete" and plan.prune)
    ]
    return 2 if changes else 0
