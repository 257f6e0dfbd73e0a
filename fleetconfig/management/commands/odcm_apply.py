from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from fleetconfig import render
from fleetconfig.models import Plan
from fleetconfig.services import PlanNotApplicable, StalePlan, apply_plan, make_plan

from ._common import actor, read_file


class Command(BaseCommand):
    help = (
        "Apply a fleet file (or a reviewed plan with --plan ID) through ODCM's services. "
        "Exit code 0: applied; 1: invalid file or refused plan; 3: some objects failed (a rerun "
        "finishes the job)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", nargs="?", help="The YAML file, or - for standard input.")
        parser.add_argument("--plan", help="Apply this stored plan instead of a file.")
        parser.add_argument(
            "--prune",
            action="store_true",
            help="Delete what an earlier apply created and the file no longer has.",
        )
        parser.add_argument("--json", action="store_true", help="Print the outcome as JSON.")
        parser.add_argument("--as", dest="username", help="Apply as this user (audited).")

    def handle(self, *args: Any, **options: Any) -> None:
        user = actor(options["username"])
        if options["plan"]:
            plan = Plan.objects.filter(pk=_uuid(options["plan"])).first()
            if plan is None:
                raise CommandError(f"No plan {options['plan']}.")
        elif options["file"]:
            plan = make_plan(
                read_file(options["file"]),
                actor=user,
                prune=options["prune"],
                source=Plan.Source.CLI,
            )
        else:
            raise CommandError("Name a file (or - for standard input), or --plan ID.")
        if plan.status == Plan.Status.INVALID:
            self.stderr.write(render.text(plan), ending="")
            sys.exit(1)
        try:
            plan = apply_plan(plan, actor=user)
        except (StalePlan, PlanNotApplicable) as exc:
            self.stderr.write(str(exc))
            sys.exit(1)
        if options["json"]:
            self.stdout.write(json.dumps(render.as_json(plan), indent=2, ensure_ascii=False))
        else:
            self.stdout.write(render.text(plan), ending="")
            for outcome in plan.result:
                mark = "ok" if outcome["ok"] else f"FAILED: {outcome['error']}"
                self.stdout.write(
                    f"  {outcome['action']} {outcome['kind']} {outcome['key']}: {mark}"
                )
        sys.exit(3 if plan.status == Plan.Status.PARTIAL else 0)


def _uuid(text: str) -> str:
    import uuid

    try:
        return str(uuid.UUID(text))
    except ValueError as exc:
        raise CommandError(f"{text!r} is not a plan id.") from exc
