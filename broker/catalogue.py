"""The section catalogue and purpose map, from ``policies/catalogue.json`` (DESIGN §3).

The same file is the policy engine's data (``data.gbo.catalogue``): one source for Python and Rego.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

POLICIES_DIR = Path(__file__).resolve().parent.parent / "policies"
CATALOGUE_FILE = POLICIES_DIR / "catalogue.json"

TIERS = ("basis", "vertrouwelijk", "bijzonder", "geheim")


@dataclass(frozen=True)
class Catalogue:
    sections: dict[str, str]  # section -> tier
    purposes: dict[str, tuple[str, ...]]  # purpose -> needed sections
    raw: dict[str, Any]

    def has_section(self, name: str) -> bool:
        return name in self.sections

    def tier(self, section: str) -> str:
        return self.sections[section]


def parse_catalogue(raw: dict[str, Any]) -> Catalogue:
    """Build a catalogue; raises ``ValueError`` if a tier or a purpose's section is unknown."""
    sections = {name: spec["tier"] for name, spec in raw["sections"].items()}
    for name, tier in sections.items():
        if tier not in TIERS:
            raise ValueError(f"section {name!r} has unknown tier {tier!r}")
    purposes = {name: tuple(spec["sections"]) for name, spec in raw["purposes"].items()}
    for name, needed in purposes.items():
        unknown = set(needed) - sections.keys()
        if unknown:
            raise ValueError(f"purpose {name!r} needs unknown sections {sorted(unknown)}")
    return Catalogue(sections=sections, purposes=purposes, raw=raw)


@cache
def load_catalogue(path: Path = CATALOGUE_FILE) -> Catalogue:
    return parse_catalogue(json.loads(path.read_text(encoding="utf-8")))
