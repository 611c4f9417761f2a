"""Signal bundles and the opt-out of secondary use (DESIGN §11) over HTTP on both backends: a
coordinator drafts and releases a bundle; its figures are noisy, suppressed and charged to the
network's yearly budget, which a release never exceeds; released bundles never change; the
exports (CSV, PDF) show only what was released; opted-out clients are never counted."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from pypdf import PdfReader
from sqlmodel import Session

from broker.context import BrokerContext
from broker.errors import PrivacyBudgetExhausted
from broker.services import figures, opt_out, privacy_budget
from broker.settings import Settings
from broker.store.audit_events import AuditEvent, decode
from tests.backends import on_backends
from tests.broker.test_signals import NETWORK, coordinator_auth, make_signal
from tests.factories import VALID_INSZ, auth, client_auth, issuer_token, partner_auth

TODAY = datetime.now(UTC).date()
YEAR = TODAY.year - 1  # a closed year: every period in it has ended
PERIOD = {"network": NETWORK, "from": f"{YEAR}-07-01", "to": f"{YEAR}-09-30"}


def seed_accesses(ctx: BrokerContext, *, clients: int, day: date,
                  purpose: str = "rechtenverkenning", partner: str = "ocmw-gent",
                  refs: list[str] | None = None) -> list[str]:
    """Access decisions of ``clients`` clients (or of ``refs``) on ``day``, as the access flow
    logs them; returns the pseudonyms."""
    when = datetime(day.year, day.month, day.day, 10, tzinfo=UTC)
    refs = refs or [f"{i:032x}" for i in range(1, clients + 1)]
    for ref in refs:
        ctx.audit.append(AuditEvent(kind="access.decision", network=NETWORK, client=ref,
                                    partner=partner, purpose=purpose,
                                    sections={"inkomen": {"verdict": "granted",
                                                          "reasons": []}}), now=when)
    return refs


def _draft(api: TestClient, settings: Settings, **period: Any) -> dict[str, Any]:
    response = api.post("/v1/signal-bundles", json={**PERIOD, **period},
                        headers=coordinator_auth(settings))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _release(api: TestClient, settings: Settings, bundle_id: str) -> Any:
    return api.post(f"/v1/signal-bundles/{bundle_id}/release", headers=coordinator_auth(settings))


def test_coordinator_drafts_and_releases_a_bundle_frozen_with_epsilon_per_figure(
    api: TestClient, settings: Settings, ctx: BrokerContext
) -> None:
    seed_accesses(ctx, clients=40, day=date(YEAR, 8, 3))
    api.post("/v1/signals", json=make_signal(), headers=partner_auth(settings))
    draft = _draft(api, settings)
    assert (draft["status"], draft["figures"], draft["from"]) == ("draft", [], PERIOD["from"])
    assert [s["title"] for s in draft["signals"]] == [make_signal()["title"]]
    released = _release(api, settings, draft["id"])
    assert released.status_code == 200, released.text
    bundle = released.json()
    assert bundle["status"] == "released"
    names = [f["name"] for f in bundle["figures"]]
    assert names == ["toegang_per_doel", "noodtoegang", "toestemmingen", "doorverwijzingen"]
    for figure in bundle["figures"]:
        assert "epsilon" in figure and figure["epsilon"] <= settings.signals_epsilon_per_figure
        for cell in figure["cells"]:
            assert set(cell) == {"key", "value", "suppressed"}
            assert cell["value"] is None or cell["value"] >= 10
            assert cell["suppressed"] == (cell["value"] is None)
    assert bundle["epsilon"] == pytest.approx(sum(f["epsilon"] for f in bundle["figures"]))
    assert bundle["spent"] == pytest.approx(bundle["epsilon"])
    # Frozen: the same answer later, whatever happens since.
    api.post("/v1/signals", json=make_signal(title="Nog een signaal"),
             headers=partner_auth(settings))
    again = api.get(f"/v1/signal-bundles/{draft['id']}", headers=coordinator_auth(settings))
    assert again.json()["figures"] == bundle["figures"]
    assert again.json()["signals"] == bundle["signals"]
    twice = _release(api, settings, draft["id"])
    assert (twice.status_code, twice.json()["code"]) == (409, "bundle_released")
    [entry] = [decode(x) for x in ctx.audit.log.store.find_leaves(kind_prefix="signal_bundle.")
               if decode(x)["kind"] == "signal_bundle.released"]
    assert entry["facts"] == {"bundle_id": draft["id"], "figures": 4,
                              "epsilon_milli": round(bundle["epsilon"] * 1000),
                              "role": "coordinator"}


def test_a_release_that_would_exceed_the_yearly_budget_is_refused_and_spends_nothing(
    api: TestClient, settings: Settings, ctx: BrokerContext
) -> None:
    first = _release(api, settings, _draft(api, settings)["id"]).json()
    per_release = first["epsilon"]
    assert per_release == pytest.approx(
        sum(1 for f in first["figures"] if f["cells"]) * settings.signals_epsilon_per_figure)
    fits = int(settings.signals_privacy_budget / per_release + 1e-9)
    for _ in range(fits - 1):
        assert _release(api, settings, _draft(api, settings)["id"]).status_code == 200
    refused_draft = _draft(api, settings)
    refused = _release(api, settings, refused_draft["id"])
    assert (refused.status_code, refused.json()["code"]) == (409, "privacy_budget_exhausted")
    after = api.get(f"/v1/signal-bundles/{refused_draft['id']}",
                    headers=coordinator_auth(settings)).json()
    assert after["status"] == "draft" and after["figures"] == []
    assert after["spent"] <= settings.signals_privacy_budget
    assert after["spent"] == pytest.approx(fits * per_release)
    # Another year has its own budget.
    other = _draft(api, settings, **{"from": f"{YEAR - 1}-01-01", "to": f"{YEAR - 1}-03-31"})
    assert _release(api, settings, other["id"]).status_code == 200


budget_steps = st.lists(st.floats(min_value=0.0, max_value=1.5, allow_nan=False), max_size=12)


@on_backends("unused", {"budget": None}, both=["budget"])
def test_spending_never_exceeds_the_budget_over_random_sequences(
    ctx: BrokerContext, unused: None
) -> None:
    years = iter(range(1000, 3000))

    @hsettings(max_examples=30, deadline=None,
               suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(budget_steps, st.floats(min_value=0.1, max_value=3.0))
    def run(steps: list[float], budget: float) -> None:
        year = next(years)
        with Session(ctx.engine) as session:
            for epsilon in steps:
                before = privacy_budget.spent(session=session, network=NETWORK, year=year)
                try:
                    privacy_budget.spend(session=session, network=NETWORK, year=year,
                                         epsilon=epsilon, budget=budget)
                    session.commit()
                    assert before + epsilon <= budget + 1e-9
                except PrivacyBudgetExhausted:
                    session.rollback()
                    assert before + epsilon > budget
                after = privacy_budget.spent(session=session, network=NETWORK, year=year)
                assert after <= budget + 1e-9

    run()


BAD_BUNDLES = {
    "to-before-from": ({**PERIOD, "from": f"{YEAR}-09-30", "to": f"{YEAR}-07-01"}, 422,
                       "invalid_period"),
    "two-years": ({**PERIOD, "from": f"{YEAR - 1}-12-01", "to": f"{YEAR}-01-31"}, 422,
                  "invalid_period"),
    "not-ended": ({**PERIOD, "from": TODAY.replace(day=1).isoformat(),
                   "to": (TODAY + timedelta(days=1)).isoformat()}, 422, "invalid_period"),
    "bad-date": ({**PERIOD, "to": "2026-02-30"}, 422, "invalid_request"),
    "unknown-field": ({**PERIOD, "epsilon": 10}, 422, "invalid_request"),
    "other-network": ({**PERIOD, "network": "gbo-elders"}, 403, "coordinator_required"),
}


@on_backends("body, status, code", BAD_BUNDLES, both=["to-before-from"])
def test_bundle_bad_forms_are_refused(api: TestClient, settings: Settings,
                                      body: dict[str, Any], status: int, code: str) -> None:
    response = api.post("/v1/signal-bundles", json=body, headers=coordinator_auth(settings))
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert api.get("/v1/signal-bundles", headers=coordinator_auth(settings)).json() == {
        "bundles": []}


def test_only_the_coordinator_releases_and_others_of_scope_only_read(
    api: TestClient, settings: Settings
) -> None:
    draft = _draft(api, settings)
    reader = coordinator_auth(settings, rights=[])
    refused = api.post(f"/v1/signal-bundles/{draft['id']}/release", headers=reader)
    assert (refused.status_code, refused.json()["code"]) == (403, "coordinator_required")
    assert api.get(f"/v1/signal-bundles/{draft['id']}", headers=reader).status_code == 200
    supervisor = auth(issuer_token(settings, role="auditor", scope="supervisor"))
    assert api.get(f"/v1/signal-bundles/{draft['id']}", headers=supervisor).status_code == 200
    dpo = auth(issuer_token(settings, role="auditor", scope="partner:ocmw-gent"))
    hidden = api.get(f"/v1/signal-bundles/{draft['id']}", headers=dpo)
    assert (hidden.status_code, hidden.json()["code"]) == (404, "bundle_not_found")
    for export in ("figures.csv", "report.pdf"):
        early = api.get(f"/v1/signal-bundles/{draft['id']}/{export}",
                        headers=coordinator_auth(settings))
        assert (early.status_code, early.json()["code"]) == (409, "bundle_not_released")


def test_exports_show_only_released_values_and_the_report_explains_the_method(
    api: TestClient, settings: Settings, ctx: BrokerContext
) -> None:
    seed_accesses(ctx, clients=400, day=date(YEAR, 8, 3))
    seed_accesses(ctx, clients=300, day=date(YEAR, 9, 3), purpose="doorverwijzing",
                  partner="caw-oost-vlaanderen")
    api.post("/v1/signals", json=make_signal(), headers=partner_auth(settings))
    bundle = _release(api, settings, _draft(api, settings)["id"]).json()
    csv = api.get(f"/v1/signal-bundles/{bundle['id']}/figures.csv",
                  headers=coordinator_auth(settings))
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.splitlines()
    assert lines[0] == ",".join(figures_columns())
    published = {c["value"] for f in bundle["figures"] for c in f["cells"]} - {None}
    values = {line.split(",")[3] for line in lines[1:]}
    assert values <= {str(v) for v in published} | {""}
    assert len(lines) - 1 == sum(len(f["cells"]) for f in bundle["figures"])
    pdf = api.get(f"/v1/signal-bundles/{bundle['id']}/report.pdf",
                  headers=coordinator_auth(settings))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    text = " ".join(text.split())
    for expected in ("Signalenbundel", "methode", "ruis", "OpenDP", "ε", "< 10", "opt-out",
                     "Cliënten met een toegangsaanvraag", make_signal()["title"]):
        assert expected in text, expected
    [access] = [f for f in bundle["figures"] if f["name"] == "toegang_per_doel"]
    [big] = [c for c in access["cells"]
             if c["key"] == {"kwartaal": f"{YEAR}-K3", "doel": "rechtenverkenning",
                             "partnertype": "ocmw"}]
    assert big["value"] is not None and f"rechtenverkenning / ocmw: {big['value']}" in text


def figures_columns() -> tuple[str, ...]:
    from broker.services.bundle_export import CSV_COLUMNS

    return CSV_COLUMNS


# --- opt-out ----------------------------------------------------------------------------------


def test_client_opts_out_and_back_in_and_it_is_audited(
    api: TestClient, settings: Settings, ctx: BrokerContext
) -> None:
    me = client_auth(settings)
    assert api.get("/v1/me/opt-out", headers=me).json()["opted_out"] is False
    made = api.post("/v1/me/opt-out", headers=me)
    assert made.status_code == 201 and made.json()["opted_out"] is True
    assert made.json()["networks"] == [NETWORK]
    twice = api.post("/v1/me/opt-out", headers=me)
    assert (twice.status_code, twice.json()["code"]) == (409, "already_opted_out")
    undone = api.delete("/v1/me/opt-out", headers=me)
    assert undone.status_code == 200 and undone.json()["opted_out"] is False
    gone = api.delete("/v1/me/opt-out", headers=me)
    assert (gone.status_code, gone.json()["code"]) == (404, "opt_out_not_found")
    kinds = [decode(x)["kind"] for x in ctx.audit.log.store.find_leaves(kind_prefix="opt_out.")]
    assert kinds == ["opt_out.created", "opt_out.ended"]
    assert all(VALID_INSZ not in x.leaf.decode()
               for x in ctx.audit.log.store.find_leaves(kind_prefix="opt_out."))


def test_an_opted_out_client_is_left_out_of_the_counts_of_a_release(
    api: TestClient, settings: Settings, ctx: BrokerContext
) -> None:
    ref = ctx.keyring.client_ref(NETWORK, VALID_INSZ)
    others = seed_accesses(ctx, clients=5, day=date(YEAR, 8, 3))
    seed_accesses(ctx, clients=1, day=date(YEAR, 8, 4), refs=[ref])
    assert api.post("/v1/me/opt-out", headers=client_auth(settings)).status_code == 201
    spec = figures.specs(sorted(ctx.catalogue.purposes))[0]
    with Session(ctx.engine) as session:
        opted = opt_out.opted_out_refs(session=session, network=NETWORK)
        events = figures.read_events(session.connection(), network=NETWORK,
                                     start=date(YEAR, 7, 1), end=date(YEAR, 9, 30),
                                     kinds=spec.kinds, partner_types={"ocmw-gent": "ocmw"})
    assert opted == frozenset({ref})
    counted = figures.contributions(events, spec.cells_of, opted)
    assert set(counted) == set(others)


def test_migration_of_the_signal_tables_downgrades_and_upgrades(engine: Any) -> None:
    from alembic import command
    from alembic.script import ScriptDirectory
    from sqlalchemy import inspect

    from broker.store.db import alembic_config, current_revision, head_revision, upgrade

    config = alembic_config(engine)
    script = ScriptDirectory.from_config(config).get_revision("0011")
    assert script is not None and isinstance(script.down_revision, str)
    tables = {"signal", "signal_follow_up", "signal_bundle", "privacy_spend",
              "secondary_use_opt_out", "client_name_digest"}
    command.downgrade(config, script.down_revision)
    assert tables.isdisjoint(inspect(engine).get_table_names())
    upgrade(engine)
    assert current_revision(engine) == head_revision(engine)
    assert tables <= set(inspect(engine).get_table_names())


@on_backends("first_of_year", {"row-exists": False, "first-spending": True},
             both=["row-exists", "first-spending"])
def test_two_releases_at_once_cannot_both_slip_under_the_budget(
    ctx: BrokerContext, first_of_year: bool
) -> None:
    import threading

    year = 1999
    if not first_of_year:
        with Session(ctx.engine) as session:
            privacy_budget.spend(session=session, network=NETWORK, year=year, epsilon=0.0,
                                 budget=1.0)
            session.commit()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def release() -> None:
        with Session(ctx.engine) as session:
            barrier.wait()
            try:
                privacy_budget.spend(session=session, network=NETWORK, year=year, epsilon=0.6,
                                     budget=1.0)
                session.commit()
                outcomes.append("spent")
            except PrivacyBudgetExhausted:
                session.rollback()
                outcomes.append("refused")

    threads = [threading.Thread(target=release) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused", "spent"]
    with Session(ctx.engine) as session:
        assert privacy_budget.spent(session=session, network=NETWORK, year=year) == 0.6


def test_referral_outcomes_of_the_log_reach_the_referral_figure(ctx: BrokerContext) -> None:
    when = datetime(YEAR, 8, 5, 9, tzinfo=UTC)
    for i, kind in enumerate(("dropped", "dropped", "accepted")):
        ctx.audit.append(AuditEvent(
            kind=f"referral.{kind}", network=NETWORK, client=f"{i + 1:032x}",
            partner="caw-oost-vlaanderen", purpose="doorverwijzing",
            facts={"referral_id": f"rf-{i + 1:032x}", "referral_status": kind,
                   "to_partner": "caw-oost-vlaanderen"}), now=when)
    spec = figures.specs(sorted(ctx.catalogue.purposes))[-1]
    assert spec.name == "doorverwijzingen" and spec.domain([f"{YEAR}-K3"], figures.KINDS)
    with Session(ctx.engine) as session:
        events = figures.read_events(session.connection(), network=NETWORK,
                                     start=date(YEAR, 7, 1), end=date(YEAR, 9, 30),
                                     kinds=spec.kinds, partner_types={})
    counts = figures.bounded_counts(
        figures.contributions(events, spec.cells_of, frozenset()),
        spec.domain([f"{YEAR}-K3"], figures.KINDS), bound=spec.bound, salt=b"t")
    domain = spec.domain([f"{YEAR}-K3"], figures.KINDS)
    assert dict(zip(domain, counts, strict=True)) == {
        (f"{YEAR}-K3", "aanvaard"): 1, (f"{YEAR}-K3", "geweigerd"): 0,
        (f"{YEAR}-K3", "afgerond"): 0, (f"{YEAR}-K3", "uitgevallen"): 2}
