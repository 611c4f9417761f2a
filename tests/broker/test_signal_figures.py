"""The figures of a signal bundle (DESIGN §11) as properties over random data sets.

Noise makes "the published figure changes by at most X" untestable as such; what makes the
release differentially private is (1) the counts before noise change by at most the figure's
bound when one client is added or removed, and (2) the noise is calibrated by OpenDP to that
bound within the ε charged. Both are checked here, the first over random data sets, the second
against OpenDP's own privacy map. Suppression and the opt-out are checked directly.
"""

from __future__ import annotations

from datetime import date

import opendp.prelude as dp
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.services import dp_release, figures
from broker.services.figures import Event

PURPOSES = ("rechtenverkenning", "doorverwijzing", "noodsituatie")
PERIOD = figures.quarters(date(2026, 1, 1), date(2026, 12, 31))
SPECS = figures.specs(PURPOSES)
ALL_KINDS = frozenset({"access.decision", "consent.created", "consent.revoked",
                       *figures.REFERRAL_OUTCOMES})
KINDS = sorted(ALL_KINDS)


def _events_of(client: str) -> st.SearchStrategy[list[Event]]:
    event = st.builds(
        Event, kind=st.sampled_from(KINDS), quarter=st.sampled_from(PERIOD),
        client=st.just(client),
        partner_type=st.sampled_from([*figures.PARTNER_TYPES, None]),
        purpose=st.sampled_from([*PURPOSES, "onbekend", None]), break_glass=st.booleans())
    return st.lists(event, max_size=12)


clients = st.lists(st.text("0123456789abcdef", min_size=32, max_size=32), min_size=0,
                   max_size=25, unique=True)


@st.composite
def data_sets(draw: st.DrawFn) -> tuple[list[Event], list[Event]]:
    """A data set, and the events of one more client (the neighbour differs by that client)."""
    names = draw(clients)
    events = [e for name in names for e in draw(_events_of(name))]
    extra = draw(_events_of("f" * 32).filter(bool))
    return events, extra


def _counts(events: list[Event], spec: figures.FigureSpec,
            opted_out: frozenset[str] = frozenset()) -> list[int]:
    return figures.bounded_counts(figures.contributions(events, spec.cells_of, opted_out),
                                  spec.domain(PERIOD, ALL_KINDS), bound=spec.bound,
                                  salt=b"sb-test")


@settings(max_examples=150, deadline=None)
@given(data_sets())
def test_one_client_more_or_less_changes_each_figure_by_at_most_its_bound(
    data: tuple[list[Event], list[Event]],
) -> None:
    events, extra = data
    for spec in SPECS:
        without, with_client = _counts(events, spec), _counts(events + extra, spec)
        assert sum(abs(a - b) for a, b in zip(without, with_client, strict=True)) <= spec.bound


@settings(max_examples=100, deadline=None)
@given(data_sets(), st.data())
def test_opted_out_clients_never_count(data: tuple[list[Event], list[Event]],
                                       pick: st.DataObject) -> None:
    events, extra = data
    everyone = sorted({e.client for e in events + extra})
    opted_out = frozenset(pick.draw(st.lists(st.sampled_from(everyone), unique=True)))
    kept = [e for e in events + extra if e.client not in opted_out]
    for spec in SPECS:
        assert _counts(events + extra, spec, opted_out) == _counts(kept, spec)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=400), max_size=40),
       st.sampled_from([1, 2, 4]), st.sampled_from([0.1, 0.25, 1.0]))
def test_a_released_cell_is_never_under_ten(counts: list[int], bound: int,
                                            epsilon: float) -> None:
    released = dp_release.release(counts, sensitivity=bound, epsilon=epsilon)
    assert len(released.values) == len(counts)
    assert all(v is None or v >= dp_release.MIN_CELL for v in released.values)


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=8), st.floats(min_value=0.01, max_value=5.0))
def test_noise_is_calibrated_by_opendp_within_the_epsilon_charged(bound: int,
                                                                  epsilon: float) -> None:
    scale, spent = dp_release.calibrate(bound, epsilon)
    assert spent <= epsilon
    measurement = dp.m.make_laplace(dp.vector_domain(dp.atom_domain(T=int)),
                                    dp.l1_distance(T=int), scale=scale)
    # OpenDP's privacy map, asked independently, states the same loss for this bound, and a
    # neighbour further away than the bound would cost more: the bound is what is paid for.
    assert measurement.map(bound) == spent
    assert measurement.map(bound + 1) > spent


def test_figure_shape_and_epsilon_on_every_figure() -> None:
    events = [Event(kind="access.decision", quarter="2026-K3", client=f"{i:032x}",
                    partner_type="ocmw", purpose="rechtenverkenning", break_glass=False)
              for i in range(300)]
    for spec in SPECS:
        figure = figures.compute(events, spec=spec, period=["2026-K3"], opted_out=frozenset(),
                                 epsilon=0.25, salt=b"x", known_kinds=ALL_KINDS)
        assert figure.epsilon <= 0.25 and figure.epsilon > 0
        assert len(figure.cells) == len(spec.domain(["2026-K3"], ALL_KINDS))
        assert all(c.suppressed == (c.value is None) for c in figure.cells)
    busy = figures.compute(events, spec=SPECS[0], period=["2026-K3"], opted_out=frozenset(),
                           epsilon=1.0, salt=b"x")
    [cell] = [c for c in busy.cells
              if c.key == {"kwartaal": "2026-K3", "doel": "rechtenverkenning",
                           "partnertype": "ocmw"}]
    assert cell.value is not None and abs(cell.value - 300) < 60  # scale 2: far within


def test_referral_figure_has_no_cells_and_spends_nothing_until_the_log_knows_referrals() -> None:
    referrals = SPECS[-1]
    figure = figures.compute([], spec=referrals, period=PERIOD, opted_out=frozenset(),
                             epsilon=0.25, salt=b"x",
                             known_kinds=frozenset({"access.decision"}))
    assert (figure.cells, figure.epsilon, figure.scale) == ([], 0.0, None)
    known = figures.compute([], spec=referrals, period=PERIOD, opted_out=frozenset(),
                            epsilon=0.25, salt=b"x", known_kinds=ALL_KINDS)
    assert len(known.cells) == len(PERIOD) * 4 and known.epsilon > 0


def test_quarters_of_a_period() -> None:
    assert figures.quarters(date(2026, 3, 31), date(2026, 7, 1)) == [
        "2026-K1", "2026-K2", "2026-K3"]
    assert figures.quarters(date(2026, 12, 1), date(2026, 12, 31)) == ["2026-K4"]
