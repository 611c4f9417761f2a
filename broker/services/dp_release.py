"""Differentially private release of counts (DESIGN §11), through OpenDP.

The unit of privacy is one client: two data sets are neighbours when one holds a client (with
all their events) that the other does not. A figure's counts are made with contribution
bounding (``figures.bounded_counts``): each client adds at most 1 to at most ``sensitivity``
cells, so adding or removing one client changes the vector of counts by at most
``sensitivity`` in L1 distance. The noise is OpenDP's Laplace mechanism on a vector of
integers (``opendp.measurements.make_laplace`` on ``vector_domain(atom_domain(T=int))`` with
``l1_distance(T=int)``: on integers it samples the discrete Laplace distribution exactly, with
no floating-point leak). OpenDP's own privacy map gives the ε it spends for that bound, and the
scale is searched by OpenDP so that the map stays within the ε asked for.

Small-cell suppression: a cell whose *noisy* count is under :data:`MIN_CELL` is published as
``null``. Deciding on the noisy value is post-processing, so it costs no extra privacy, and no
published value is ever under 10. Raw counts leave this module only as noisy values.

OpenDP marks its constructors ``contrib`` (contributed, not yet through its vetting process);
enabling that feature is a conscious choice, documented in ``docs/signals.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import opendp.prelude as dp

dp.enable_features("contrib")

MIN_CELL = 10
"""DESIGN §11: no published cell under 10."""
MECHANISM = "OpenDP make_laplace (discrete Laplace on integer counts)"


@dataclass(frozen=True)
class Released:
    """Noisy counts as published: ``None`` for a suppressed cell."""

    values: list[int | None]
    scale: float
    epsilon: float


def _measurement(scale: float) -> dp.Measurement:
    return dp.m.make_laplace(dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int),
                             scale=scale)


@lru_cache(maxsize=64)
def calibrate(sensitivity: int, epsilon: float) -> tuple[float, float]:
    """The noise scale OpenDP finds for ``sensitivity`` (L1, in counts) within ``epsilon``, and
    the ε its privacy map then states (never above ``epsilon``)."""
    if sensitivity < 1 or not epsilon > 0:
        raise ValueError("sensitivity must be at least 1 and epsilon positive")
    scale = dp.binary_search_param(_measurement, d_in=sensitivity, d_out=epsilon)
    spent = float(_measurement(scale).map(sensitivity))  # type: ignore[no-untyped-call]
    if spent > epsilon:  # OpenDP's search guarantees this; deny on any doubt
        raise ValueError("calibration exceeded the privacy loss asked for")
    return float(scale), spent


def release(counts: list[int], *, sensitivity: int, epsilon: float) -> Released:
    """Add noise to ``counts`` (one OpenDP release of the whole vector) and suppress small
    cells. Spends ``Released.epsilon`` (at most ``epsilon``)."""
    scale, spent = calibrate(sensitivity, epsilon)
    noisy = _measurement(scale)(list(counts)) if counts else []
    return Released(values=[suppress(int(v)) for v in noisy], scale=scale, epsilon=spent)


def suppress(noisy: int) -> int | None:
    """DESIGN §11 small-cell suppression, on the noisy value (post-processing)."""
    return noisy if noisy >= MIN_CELL else None
