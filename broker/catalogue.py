"""Loads the section catalogue and purpose map from ``policies/catalogue.json`` (DESIGN §3).

The same file is the policy engine's data (``data.gbo.catalogue``): one source for Python and Rego.
The catalogue type itself lives in ``consent.catalogue``.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from consent.catalogue import Catalogue

POLICIES_DIR = Path(__file__).resolve().parent.parent / "policies"
CATALOGUE_FILE = POLICIES_DIR / "catalogue.json"


@cache
def load_catalogue(path: Path = CATALOGUE_FILE) -> Catalogue:
    """Raises ``consent.errors.InvalidCatalogue`` when the file is not a valid catalogue."""
    return Catalogue.from_dict(json.loads(path.read_text(encoding="utf-8")))
