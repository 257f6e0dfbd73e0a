"""managed's services: content (validation), octopus_side (read, plan, write a space),
blueprints (revisions, assignment), broker (queue, claim, apply, sweep, drift)."""
