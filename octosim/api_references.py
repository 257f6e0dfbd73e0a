"""Accounts, certificates and worker pools: what variables of those types point at.

A variable of type ``Certificate``, ``AmazonWebServicesAccount``, ``AzureAccount``,
``GoogleCloudAccount``, ``UsernamePasswordAccount``, ``GenericOidcAccount`` or ``WorkerPool``
holds the id of such a document in its own space (``Accounts-3``, ``WorkerPools-1``). octosim
keeps a few per space, read-only: ``GET /api/{spaceId}/<collection>/all`` (the fields are a
subset of Octopus's AccountResource, CertificateResource and WorkerPoolResource).
"""

from __future__ import annotations

from collections.abc import Callable

from octosim.api_core import require_space
from octosim.routing import Ctx, Reply, Router
from octosim.seed import REFERENCE_COLLECTIONS as COLLECTIONS
from octosim.state import Doc


def _render(ctx: Ctx, collection: str, doc: Doc) -> Doc:
    out = dict(doc)
    out["Links"] = {"Self": f"/api/{doc['SpaceId']}/{collection}/{doc['Id']}"}
    return out


def _make_all(collection: str) -> Callable[[Ctx], Reply]:
    def handler(ctx: Ctx) -> Reply:
        require_space(ctx)
        assert ctx.space_id is not None
        docs = sorted(ctx.st.col(ctx.space_id, collection).values(), key=lambda d: d["Name"])
        return 200, [_render(ctx, collection, d) for d in docs]

    return handler


def register(router: Router) -> None:
    # worker pools are a full resource of their own (octosim/api_managed.py serves /all)
    for collection in (c for c in COLLECTIONS if c != "workerpools"):
        router.space("GET", f"/{collection}/all", _make_all(collection))
