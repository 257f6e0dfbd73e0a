"""Rollouts' logic: ``engine`` (start, advance, tick), ``actions`` (what people do, policies),
``alerts`` (halt emails), ``metrics``."""
