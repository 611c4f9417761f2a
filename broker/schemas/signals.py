"""Bodies of ``/v1/signals``, ``/v1/signal-bundles`` and ``/v1/me/opt-out`` (DESIGN §11)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictStr

from broker.schemas.common import RequestBody

# The themes a signal is filed under: the fields of life where GBO sees under-protection
# (DESIGN §1). A closed set, so that a theme never carries free text.
Theme = Literal["inkomen", "schulden", "huisvesting", "werk", "gezondheid", "gezin",
                "onderwijs", "mobiliteit", "digitale_kloof", "verblijf", "toegang_tot_hulp",
                "andere"]
# DESIGN §11 a signal's follow-up: open, being worked on, reported to government, closed.
SignalStatus = Literal["open", "in_behandeling", "gesignaleerd", "afgesloten"]
# Free text is stored as text: no control characters (a NUL cannot be stored in PostgreSQL
# text) but tabs and line breaks.
TEXT = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F]*$"
PartnerId = Annotated[str, Field(min_length=1, max_length=64,
                                 pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")]


class SignalCreate(RequestBody):
    theme: Theme
    title: StrictStr = Field(min_length=3, max_length=200, pattern=TEXT)
    description: StrictStr = Field(min_length=10, max_length=5000, pattern=TEXT)
    partners: list[PartnerId] = Field(default_factory=list, max_length=20,
                                description="Other partners of the network that back it.")


class FollowUpCreate(RequestBody):
    note: StrictStr = Field(min_length=3, max_length=2000, pattern=TEXT)
    status: SignalStatus | None = None
    owner: str | None = Field(default=None, min_length=1, max_length=64,
                              pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$",
                              description="A new owner (trekker): a partner of the network.")


class FollowUpPublic(BaseModel):
    id: str
    actor: str = Field(description="The partner that wrote it, or `coordinator`.")
    note: str
    status: SignalStatus | None
    owner: str | None
    created_at: datetime


class SignalPublic(BaseModel):
    id: str
    network: str
    theme: Theme
    title: str
    description: str
    owner: str = Field(description="The partner that leads the signal (trekker).")
    partners: list[str]
    status: SignalStatus
    created_by: str
    created_at: datetime
    updated_at: datetime
    history: list[FollowUpPublic]


class SignalsPublic(BaseModel):
    signals: list[SignalPublic]


class BundleCreate(RequestBody):
    network: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
    from_: date = Field(alias="from", description="First day of the period.")
    to: date = Field(description="Last day of the period (within the same calendar year).")


class Cell(BaseModel):
    key: dict[str, str]
    value: int | None = Field(description="The noisy count, or null when suppressed (under 10).")
    suppressed: bool


class Figure(BaseModel):
    name: str
    title: str
    unit: str = Field(description="What one unit of a cell counts.")
    cells: list[Cell]
    epsilon: float = Field(description="The privacy loss (ε) this figure spent.")
    mechanism: str = Field(description="How the noise was drawn (OpenDP).")
    scale: float | None = Field(description="The noise scale; null when nothing was released.")
    sensitivity: int = Field(description="How much one client can change the figure's counts "
                             "before noise (L1), by contribution bounding.")
    note: str | None = None


class BundlePublic(BaseModel):
    id: str
    network: str
    from_: date = Field(serialization_alias="from")
    to: date
    status: Literal["draft", "released"]
    created_at: datetime
    released_at: datetime | None
    epsilon: float | None = Field(description="The privacy loss of the whole release: the sum "
                                  "of its figures' (basic composition).")
    budget: float = Field(description="The network's privacy budget per calendar year.")
    spent: float = Field(description="The budget spent so far in the period's year.")
    figures: list[Figure]
    signals: list[SignalPublic]


class BundlesPublic(BaseModel):
    bundles: list[BundlePublic]


class OptOutPublic(BaseModel):
    opted_out: bool = Field(description="True while the client is left out of every figure.")
    since: datetime | None
    networks: list[str]
