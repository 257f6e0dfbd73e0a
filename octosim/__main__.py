"""Entry point for ``python -m octosim``."""

import os
import sys

from octosim.cli import main

code = main()
# Everything is stopped and saved by now. Leave without freeing the heap object by
# object: with a thousand generated instances that takes seconds, and callers (tests,
# SimServer.stop) wait for the process to end.
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
