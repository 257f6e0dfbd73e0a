"""``python -m odcm.keygen``: print new values for ODCM_SECRET_KEY and ODCM_ENCRYPTION_KEYS.

Runs without any configuration, because it is what you run before you have one.
"""

from __future__ import annotations

import secrets
import sys

from odcm.crypto import generate_key


def main(argv: list[str]) -> int:
    if argv[1:] == ["--encryption-key"]:
        print(generate_key())
    elif argv[1:] == ["--secret-key"]:
        print(secrets.token_urlsafe(50))
    else:
        print(f"ODCM_SECRET_KEY={secrets.token_urlsafe(50)}")
        print(f"ODCM_ENCRYPTION_KEYS={generate_key()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
