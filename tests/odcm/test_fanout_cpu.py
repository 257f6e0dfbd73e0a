"""The fan-out's CPU savers keep their promises: thresholds restored, no thread left waiting."""

from __future__ import annotations

import asyncio
import gc

from odcm import fanout


def test_collections_are_rarer_inside_a_fan_out_and_as_before_after_it() -> None:
    before = gc.get_threshold()
    with fanout.fewer_collections():
        inside = gc.get_threshold()
        with fanout.fewer_collections():  # a second fan-out in another thread of the process
            assert gc.get_threshold() == inside
        assert gc.get_threshold() == inside
    assert inside[0] >= fanout.FANOUT_GC_THRESHOLD
    assert inside[1:] == before[1:]
    assert gc.get_threshold() == before


def test_work_put_for_a_closed_loop_is_told_so_at_once() -> None:
    loop = asyncio.new_event_loop()
    inbox = fanout._Inbox(loop)
    loop.close()
    seen: list[object] = []
    inbox.put(seen.append)
    inbox.put(seen.append)
    assert seen == [None, None]


def test_a_bridged_call_returns_the_answer_and_raises_the_error() -> None:
    class Client:
        base_url = "http://octopus.test"

        async def get(self, path: str, params: object = None) -> str:
            if path == "/bad":
                raise LookupError(path)
            return path.upper()

    async def main() -> list[list[object]]:
        loop = asyncio.get_running_loop()
        bridge = fanout.BridgedClient(Client(), fanout._Inbox(loop), asyncio.Semaphore(2))  # type: ignore[arg-type]

        def job() -> list[object]:
            out: list[object] = [bridge.get(f"/p{n}") for n in range(20)]
            try:
                bridge.get("/bad")
            except LookupError as exc:
                out.append(exc)
            return out

        return list(await asyncio.gather(*[asyncio.to_thread(job) for _ in range(8)]))

    results = asyncio.run(main())
    for out in results:
        assert out[:20] == [f"/P{n}" for n in range(20)]
        assert isinstance(out[20], LookupError)
