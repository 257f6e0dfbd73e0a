"""Entry point for ``python -m octosim``."""

from octosim.cli import main

raise SystemExit(main())
