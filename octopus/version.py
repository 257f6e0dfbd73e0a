"""Octopus Server version numbers: ``2024.4.1234``, ``2020.5.0-rc0001``, ``3.17.4``."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

_VERSION = re.compile(
    r"^\s*v?(?P<nums>\d+(?:\.\d+){0,3})"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?\s*$"
)


@functools.total_ordering
@dataclass(frozen=True, eq=False)
class OctopusVersion:
    """A parsed server version; compares numerically, a pre-release sorts before its release.

    Comparisons also accept strings: ``version >= "2021.1"``. Missing parts count as 0,
    so ``"2021.1" == "2021.1.0"``. Build metadata (``+abc``) is ignored when comparing.
    """

    numbers: tuple[int, ...]
    prerelease: str = ""
    build: str = ""
    text: str = ""

    @classmethod
    def parse(cls, text: str) -> OctopusVersion:
        """Parse ``text`` or raise ``ValueError`` saying what was wrong."""
        match = _VERSION.match(text or "")
        if not match:
            raise ValueError(f"{text!r} is not an Octopus version number (like 2024.4.1234)")
        numbers = tuple(int(part) for part in match["nums"].split("."))
        return cls(numbers, match["pre"] or "", match["build"] or "", text.strip())

    @property
    def major(self) -> int:
        return self._padded()[0]

    @property
    def minor(self) -> int:
        return self._padded()[1]

    @property
    def patch(self) -> int:
        return self._padded()[2]

    @property
    def is_prerelease(self) -> bool:
        return bool(self.prerelease)

    def _padded(self) -> tuple[int, int, int, int]:
        nums = self.numbers + (0,) * (4 - len(self.numbers))
        return (nums[0], nums[1], nums[2], nums[3])

    def _key(self) -> tuple[tuple[int, ...], int, tuple[tuple[int, int | str], ...]]:
        # A release (no pre-release tag) sorts after every pre-release of the same numbers.
        pre = tuple(
            (0, int(part)) if part.isdigit() else (1, part.lower())
            for part in self.prerelease.split(".")
            if self.prerelease
        )
        return (self._padded(), 0 if self.prerelease else 1, pre)

    @staticmethod
    def _coerce(other: object) -> OctopusVersion | None:
        if isinstance(other, OctopusVersion):
            return other
        if isinstance(other, str):
            return OctopusVersion.parse(other)
        return None

    def __eq__(self, other: object) -> bool:
        coerced = self._coerce(other)
        if coerced is None:
            return NotImplemented
        return self._key() == coerced._key()

    def __lt__(self, other: object) -> bool:
        coerced = self._coerce(other)
        if coerced is None:
            return NotImplemented
        return self._key() < coerced._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        return self.text or ".".join(map(str, self.numbers)) + (
            f"-{self.prerelease}" if self.prerelease else ""
        )


def parse_version(text: str) -> OctopusVersion:
    """Shortcut for :meth:`OctopusVersion.parse`."""
    return OctopusVersion.parse(text)
