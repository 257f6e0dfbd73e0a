"""Signing keys of ODCM's OpenID Connect provider (``allauth.idp.oidc``), from the environment.

- ``ODCM_IDP_PRIVATE_KEYS``: a JSON list of keys, each ``{"pem_file": path}`` (or ``"pem"``) with
  optional ``issued_at``, ``not_before`` and ``expires_at`` (ISO 8601). allauth publishes every
  key that has not expired in the JWKS and signs with the most recently issued active one, so a
  rotation is: add the new key with a later ``issued_at`` (clients pick it up from the JWKS),
  then, once tokens signed by the old key have expired, give the old one an ``expires_at``
  and later remove it (docs/identity.md).
- ``ODCM_IDP_PRIVATE_KEY`` (or ``ODCM_IDP_PRIVATE_KEY_FILE``): one PEM key, no rotation.
- Neither: a 2048-bit RSA key generated once under ``<var dir>/idp/signing-key.pem`` (mode
  0600), so the demo and a single-host install work with nothing to configure.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from odcm.env import EnvError, env_str

KEY_FILE = "idp/signing-key.pem"


def _generated_key(var_dir: Path) -> str:
    path = var_dir / KEY_FILE
    if path.exists():
        return path.read_text(encoding="utf-8")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(pem)
    try:
        # Two processes starting at once: the first key to land wins, both use it.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text(encoding="utf-8")


def idp_private_keys(var_dir: Path) -> list[dict[str, Any]]:
    """``IDP_OIDC_PRIVATE_KEYS`` for allauth: a list of ``{"pem": …, dates…}``."""
    raw = env_str("ODCM_IDP_PRIVATE_KEYS")
    if raw:
        try:
            entries = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise EnvError(f"ODCM_IDP_PRIVATE_KEYS is not valid JSON: {exc.msg}") from None
        if not isinstance(entries, list) or not entries:
            raise EnvError("ODCM_IDP_PRIVATE_KEYS must be a non-empty JSON list of keys")
        keys = []
        for n, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise EnvError(f"ODCM_IDP_PRIVATE_KEYS[{n}] must be an object")
            pem = entry.get("pem")
            if not pem and entry.get("pem_file"):
                try:
                    pem = Path(str(entry["pem_file"])).read_text(encoding="utf-8")
                except OSError as exc:
                    raise EnvError(
                        f"ODCM_IDP_PRIVATE_KEYS[{n}]: cannot read pem_file ({exc.strerror})"
                    ) from None
            if not isinstance(pem, str) or "PRIVATE KEY" not in pem:
                raise EnvError(f"ODCM_IDP_PRIVATE_KEYS[{n}] needs a PEM private key")
            key = {"pem": pem}
            for field in ("issued_at", "not_before", "expires_at"):
                if entry.get(field):
                    key[field] = str(entry[field])
            keys.append(key)
        return keys
    single = env_str("ODCM_IDP_PRIVATE_KEY")
    if single:
        if "PRIVATE KEY" not in single:
            raise EnvError("ODCM_IDP_PRIVATE_KEY must be a PEM private key")
        return [{"pem": single.replace("\\n", "\n") + "\n"}]
    return [{"pem": _generated_key(var_dir)}]
