"""``gbo-broker``: serve, set up the demo, migrate, rotate keys, back up and restore, mint demo
tokens, erase a client."""

from __future__ import annotations

import base64
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from broker.errors import BrokerError, ClientNotFound, ConfigurationError
from broker.settings import Settings

if TYPE_CHECKING:
    from broker.context import BrokerContext

app = typer.Typer(
    help="gbo-broker: consent- and policy-driven data sharing for GBO partners.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
keys_app = typer.Typer(help="Key files in the data directory.", no_args_is_help=True)
token_app = typer.Typer(help="Print a token signed with the demo keys.", no_args_is_help=True)
client_app = typer.Typer(help="Client records.", no_args_is_help=True)
entry_app = typer.Typer(help="Dossier entries: find and redact broken or mistaken ones.",
                        no_args_is_help=True)
policy_app = typer.Typer(help="The Rego policy bundle.", no_args_is_help=True)
audit_app = typer.Typer(
    help="The audit log: verify it, print its checkpoint or its key.", no_args_is_help=True
)
signals_app = typer.Typer(help="Signals (DESIGN §11): the index their screening uses.",
                          no_args_is_help=True)
demo_app = typer.Typer(help="The demo network, and a demo eID card.")
app.add_typer(demo_app, name="demo")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(token_app, name="token")
app.add_typer(client_app, name="client")
app.add_typer(entry_app, name="entry")
app.add_typer(policy_app, name="policy")
app.add_typer(audit_app, name="audit")
app.add_typer(signals_app, name="signals")


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=2)


def _settings() -> Settings:
    return Settings()


def _now() -> datetime:
    return datetime.now(UTC)


@contextmanager
def _broker(settings: Settings | None = None) -> Iterator[BrokerContext]:
    """The broker's context for one command, closed after it; a configuration error, or a broker
    error inside the block, is the command's error (exit 2 with its message)."""
    from broker.context import load_context

    try:
        ctx = load_context(settings or _settings())
    except BrokerError as exc:
        raise _fail(exc.detail) from None
    try:
        yield ctx
    except BrokerError as exc:
        raise _fail(exc.detail) from None
    finally:
        ctx.close()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (GBO_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (GBO_PORT).")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes (PostgreSQL for > 1).")] = 1,
) -> None:
    """Serve the HTTP API. Refuses to start on an unmigrated database or with demo keys
    outside demo mode. With several workers, /metrics counts for all of them (Prometheus
    multi-process mode, in PROMETHEUS_MULTIPROC_DIR or a fresh directory per start)."""
    import logging

    import uvicorn

    from broker.app import create_app
    from broker.context import load_context
    from broker.observability import configure_logging, multiprocess_metrics
    from broker.serving import server_options, settle_heap

    settings = _settings()
    configure_logging(settings.log_level)
    if workers > 1 and settings.resolved_database_url.startswith("sqlite"):
        # One process on SQLite (DESIGN §2): its single writer and in-memory token-replay guard
        # are per process. Several workers need PostgreSQL.
        raise _fail("several workers need PostgreSQL (GBO_DATABASE_URL); SQLite serves one")
    if workers > 1 and settings.replay_guard == "memory":
        raise _fail("several workers need GBO_REPLAY_GUARD=database (or auto)")
    with ExitStack() as stack:
        try:
            # Several workers are new interpreters (uvicorn spawns them): they inherit the
            # metrics directory set here and store their values in it from their first import
            # of prometheus_client. This process is past that import and serves nothing then.
            metrics_dir = stack.enter_context(multiprocess_metrics(workers))
            if workers == 1:
                application = create_app(settings)
            else:
                # Refuse here what a worker would refuse (unmigrated database, demo keys), then
                # let go: each worker builds its own broker from the environment; this process
                # only watches them and holds no database connection, audit writer or
                # checkpointer of its own (DESIGN §2: several workers on PostgreSQL, §7).
                load_context(settings).close()
        except ConfigurationError as exc:
            raise _fail(exc.detail) from None
        bind_host, bind_port = host or settings.host, port or settings.port
        if settings.demo:
            _print_demo_hints(settings, bind_host, bind_port)
        if metrics_dir is not None:
            logging.getLogger("gbo.metrics").info(
                "metrics of all processes merged",
                extra={"workers": workers, "metrics_dir": metrics_dir},
            )
        if workers == 1:
            settle_heap()
            uvicorn.run(application, host=bind_host, port=bind_port,
                        **server_options(settings.log_level))
            return
        uvicorn.run("broker.app:create_app_from_env", factory=True, host=bind_host,
                    port=bind_port, workers=workers, **server_options(settings.log_level))


def _command() -> str:
    """How the user can run this command again: ``gbo-broker`` when that is the one on PATH,
    else the path it was started by (``.venv/bin/gbo-broker`` in a checkout)."""
    import shutil

    invoked = Path(sys.argv[0])
    found = shutil.which("gbo-broker")
    if invoked.name != "gbo-broker" or not invoked.is_file():
        return "gbo-broker"
    return "gbo-broker" if found is not None and Path(found).samefile(invoked) else str(invoked)


def _print_demo_hints(settings: Settings, host: str, port: int) -> None:
    base = f"http://{host}:{port}"
    env = f"GBO_DEMO=1 GBO_DATA_DIR={settings.data_dir}"
    body = '{"insz": "85073003328", "section": "hulpvraag", "content": {"vraag": "huurachterstal"}}'
    typer.echo(
        f"""
gbo-broker demo on {base} (data in {settings.data_dir}); API docs at {base}/docs
Mint a partner token (single use, valid 2 minutes) and post an entry:
  TOKEN=$({env} {_command()} token partner --partner ocmw-gent --worker w-1)
  curl -s -X POST {base}/v1/entries -H "Authorization: Bearer $TOKEN" \\
       -H 'Content-Type: application/json' -d '{body}'
"""
    )  # stdout: the JSON log stream (stderr) never carries an INSZ, not even the demo's


@demo_app.callback(invoke_without_command=True)
def demo(context: typer.Context) -> None:
    """Set up the demo network in GBO_DATA_DIR: keys, migrations, demo dossiers (once)."""
    if context.invoked_subcommand is not None:
        return
    from broker.demo import setup_demo

    settings = _settings()
    if not settings.demo:
        raise _fail("the demo needs demo mode: set GBO_DEMO=1")
    try:
        seeded = setup_demo(settings)
    except BrokerError as exc:
        raise _fail(exc.detail) from None
    typer.echo(
        f"demo network ready in {settings.data_dir}"
        + (" (seeded demo dossiers)" if seeded else " (already set up)"),
        err=True,
    )


@demo_app.command("eid")
def demo_eid(
    insz: Annotated[str, typer.Option(help="The citizen's INSZ (11 digits).")],
    challenge: Annotated[str, typer.Option(help="The challenge from /v1/presence/challenges.")],
    rsa: Annotated[bool, typer.Option("--rsa", help="An older card's RSA key (default: "
                                                    "ECDSA P-384).")] = False,
) -> None:
    """Play a demo eID card at the desk (DESIGN §9): print the ``presence`` object, one line of
    JSON: a citizen certificate under the demo root for INSZ and its signature over CHALLENGE.
    """
    import json

    from broker.demo.eid import play_card, root_file
    from consent.insz import is_valid_insz

    settings = _settings()
    if not settings.demo:
        raise _fail("demo cards exist only in demo mode: set GBO_DEMO=1")
    if not is_valid_insz(insz):
        raise _fail("not a valid INSZ (11 digits with a valid mod-97 check)")
    if not root_file(settings.demo_keys_dir).exists():
        raise _fail("no demo eID root yet: run `gbo-broker demo` first")
    typer.echo(json.dumps(play_card(settings.demo_keys_dir, insz=insz, challenge=challenge,
                                    now=_now(), rsa_card=rsa), separators=(",", ":")))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration to GBO_DATABASE_URL."""
    from broker.store.db import current_revision, make_engine, upgrade

    engine = make_engine(_settings().resolved_database_url)
    try:
        upgrade(engine)
        typer.echo(f"database at migration {current_revision(engine)}", err=True)
    finally:
        engine.dispose()


@keys_app.command("init")
def keys_init() -> None:
    """Create the key-encryption key and per-network pseudonym secrets if missing."""
    from broker.context import load_registry_for
    from broker.security.keys import init_keys

    settings = _settings()
    try:
        registry = load_registry_for(settings)
        created = init_keys(settings, list(registry.networks), demo=settings.demo)
    except BrokerError as exc:
        raise _fail(exc.detail) from None
    for path in created:
        typer.echo(f"created {path}", err=True)
    if not created:
        typer.echo("all keys present", err=True)


@keys_app.command("rotate")
def keys_rotate(
    key: Annotated[str, typer.Argument(help="kek, log or receipt.")],
    rewrap: Annotated[bool, typer.Option(
        help="kek: re-wrap every data key under the new KEK now, in batches, while the "
        "broker serves (else later with `keys rewrap`).")] = True,
) -> None:
    """Replace a key with a new one, keeping the old one where it is still needed: a retired
    KEK unwraps the data keys not yet re-wrapped, a retired log or receipt key verifies what it
    signed. The rotation is audited (kind key.rotated). A running broker picks the new key up
    without a restart."""
    from broker.security.keys import load_keks
    from broker.services.key_rotation import ROLES, rotate
    from broker.services.rewrap import rewrap_data_keys

    if key not in ROLES:
        raise _fail(f"KEY must be one of: {', '.join(ROLES)}")
    settings = _settings()
    with _broker(settings) as ctx:
        rotated = rotate(ctx=ctx, key=key, now=_now())
        typer.echo(f"rotated the {key} key: {rotated.previous_key_id} -> {rotated.key_id} "
                   "(the old one is kept as retired; the rotation is in the audit log)")
        if key == "kek" and rewrap:
            done = rewrap_data_keys(engine=ctx.engine, keks=load_keks(settings))
            typer.echo(f"re-wrapped {done.rewrapped} data keys; {done.remaining} left under "
                       "a retired KEK")


@keys_app.command("rewrap")
def keys_rewrap(
    batch: Annotated[int, typer.Option(help="Clients per transaction.", min=1)] = 500,
) -> None:
    """Re-wrap the data keys still wrapped by a retired KEK under the current one, in batches,
    while the broker serves. Exit 1 if some are left (their KEK is in no key file)."""
    from broker.security.keys import load_keks
    from broker.services.rewrap import rewrap_data_keys
    from broker.store.db import check_migrated, make_engine

    settings = _settings()
    engine = make_engine(settings.resolved_database_url)
    try:
        check_migrated(engine)
        done = rewrap_data_keys(engine=engine, keks=load_keks(settings), batch=batch)
    except BrokerError as exc:
        raise _fail(exc.detail) from None
    finally:
        engine.dispose()
    typer.echo(f"re-wrapped {done.rewrapped} data keys; {done.remaining} left under a retired "
               "KEK")
    if done.remaining:
        raise typer.Exit(code=1)


def _demo_only(settings: Settings) -> None:
    if not settings.demo:
        raise _fail("tokens can only be minted with demo keys: set GBO_DEMO=1")


@token_app.command("partner")
def token_partner(
    partner: Annotated[str, typer.Option(help="Partner id, e.g. ocmw-gent.")],
    worker: Annotated[str, typer.Option(help="Pseudonymous worker id (`sub`).")] = "w-1",
) -> None:
    """A single-use partner token (valid 2 minutes)."""
    from broker.security.tokens import partner_token

    settings = _settings()
    _demo_only(settings)
    try:
        typer.echo(partner_token(settings, partner=partner, worker=worker, now=_now()))
    except BrokerError as exc:
        raise _fail(exc.detail) from None


@token_app.command("client")
def token_client(
    insz: Annotated[str, typer.Option(help="The citizen's INSZ (11 digits).")],
) -> None:
    """A citizen's token from the demo identity provider (valid 15 minutes)."""
    from broker.security.tokens import client_token
    from consent.insz import is_valid_insz

    settings = _settings()
    _demo_only(settings)
    if not is_valid_insz(insz):
        raise _fail("not a valid INSZ (11 digits with a valid mod-97 check)")
    typer.echo(client_token(settings, insz=insz, now=_now()))


@token_app.command("auditor")
def token_auditor(
    scope: Annotated[str, typer.Option(help="partner:<id>, network:<id> or supervisor.")],
    right: Annotated[list[str] | None, typer.Option(
        help="A right besides the scope: signals (with network:<id>: the network's "
        "coordinator of signals and signal bundles).")] = None,
) -> None:
    """An auditor's token from the demo identity provider (valid 15 minutes)."""
    from broker.security.auth import AUDITOR_RIGHTS, AUDITOR_SCOPE
    from broker.security.tokens import auditor_token

    settings = _settings()
    _demo_only(settings)
    if not AUDITOR_SCOPE.fullmatch(scope):
        raise _fail("scope must be partner:<id>, network:<id> or supervisor")
    rights = tuple(dict.fromkeys(right or ()))
    if not set(rights) <= AUDITOR_RIGHTS:
        raise _fail(f"--right must be one of: {', '.join(sorted(AUDITOR_RIGHTS))}")
    typer.echo(auditor_token(settings, scope=scope, now=_now(), rights=rights))


@client_app.command("erase")
def client_erase(
    network: Annotated[str, typer.Option(help="The client's network, e.g. gbo-gent.")],
    ref: Annotated[str | None, typer.Option(help="The client's pseudonym.")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Crypto-shred one client (GDPR art. 17): destroy their data key. Without --ref, the INSZ
    is read from standard input (never from the command line, which shells record)."""
    from broker.services.erasure import erase_client
    from broker.store.db import session_scope
    from consent.insz import is_valid_insz

    with _broker() as ctx:
        if ref is None:
            insz = (
                typer.prompt("INSZ", hide_input=True)
                if sys.stdin.isatty()
                else sys.stdin.readline()
            )
            insz = insz.strip()
            if not is_valid_insz(insz):
                raise _fail("not a valid INSZ")
            ref = ctx.keyring.client_ref(network, insz)
        if not yes and sys.stdin.isatty():
            typer.confirm(f"Erase client {ref}? This cannot be undone.", abort=True)
        try:
            with session_scope(ctx.engine) as session:
                erase_client(session=session, audit=ctx.audit, network=network, ref=ref,
                             now=_now())
        except ClientNotFound:
            raise _fail(f"no client with pseudonym {ref} in {network}") from None
    typer.echo(f"erased client {ref} in {network}: their data can no longer be decrypted")


@app.command("backup")
def backup_command(
    dest: Annotated[Path, typer.Argument(help="A new (or empty) directory for the backup.")],
) -> None:
    """Back up a running broker: its SQLite database (SQLite's online backup API, one
    consistent snapshot while it serves) and then its key files. On PostgreSQL only the key
    files: back the database up with pg_dump (docs/operations.md)."""
    from broker.services.backup import backup

    settings = _settings()
    try:
        report = backup(settings, dest)
    except BrokerError as exc:
        raise _fail(exc.detail) from None
    typer.echo(f"backed up to {dest}: {', '.join(report.files)}"
               + (f" and the database ({report.log_size} audit leaves)"
                  if report.database == "sqlite" else ""))
    if report.database != "sqlite":
        typer.echo("the PostgreSQL database is not in it: run pg_dump (docs/operations.md)",
                   err=True)


@app.command("restore")
def restore_command(
    src: Annotated[Path, typer.Argument(help="A directory made by `gbo-broker backup`.")],
) -> None:
    """Restore a backup into a fresh data directory (GBO_DATA_DIR) and database: refuses to
    overwrite a database or key file. Then `db upgrade`, and `audit verify`."""
    from broker.services.backup import restore

    settings = _settings()
    try:
        report = restore(settings, src)
    except BrokerError as exc:
        raise _fail(exc.detail) from None
    typer.echo(f"restored {', '.join(report.files)}"
               + (" and the database" if report.database == "sqlite" else "")
               + f" into {settings.data_dir}")
    if report.database != "sqlite":
        typer.echo("restore the PostgreSQL database with pg_restore (docs/operations.md)",
                   err=True)


@signals_app.command("index-names")
def signals_index_names() -> None:
    """Index the clients' names of identiteit entries stored before the index existed (keyed
    digests only), so that screening refuses them in signals too. Safe to run again."""
    from broker.services.dossier import index_names
    from broker.store.db import session_scope

    with _broker() as ctx, session_scope(ctx.engine) as session:
        count = index_names(session=session, keyring=ctx.keyring)
    typer.echo(f"indexed the names of {count} entries")


@entry_app.command("redact")
def entry_redact(
    entry_id: Annotated[str, typer.Argument(help="The entry's id, e.g. e-1f0c...")],
    reason: Annotated[str, typer.Option(
        help="mistaken (recorded in error) or malformed (its content cannot be served).")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Remove one dossier entry's content, audited first (kind entry.redacted). The entry stays,
    marked redacted, for its client and the partners it is released to; the log still
    verifies."""
    from broker.services.redaction import REASONS, redact_entry
    from broker.store.db import session_scope

    if reason not in REASONS:
        raise _fail(f"--reason must be one of: {', '.join(REASONS)}")
    with _broker() as ctx:
        if not yes and sys.stdin.isatty():
            typer.confirm(f"Redact entry {entry_id}? Its content cannot be restored.", abort=True)
        try:
            with session_scope(ctx.engine) as session:
                redact_entry(session=session, audit=ctx.audit, entry_id=entry_id,
                             reason=reason,  # type: ignore[arg-type]  # checked against REASONS
                             now=_now())
        except BrokerError as exc:
            raise _fail(f"{exc.detail} ({exc.code})") from None
    typer.echo(f"redacted entry {entry_id}: its content is gone, its audit entry is logged")


@entry_app.command("check")
def entry_check() -> None:
    """List the stored entries whose content the strict JSON reader refuses today (accepted
    before it bounded bodies; they may fail to be served): id, section, author and the refusal
    code, never content. Exit 1 if there is any; redact them with `entry redact`."""
    from sqlmodel import select

    from broker.services.dossier import stored_content
    from broker.store.db import session_scope
    from broker.store.models import Client, Entry
    from broker.strict_json import JSONBodyError, read_json

    found = 0
    with _broker() as ctx, session_scope(ctx.engine) as session:
        rows = session.exec(select(Entry, Client).where(Entry.client_id == Client.id)).all()
        for entry, client in rows:
            if entry.is_redacted or client.data_key_wrapped is None:
                continue
            try:
                read_json(stored_content(keyring=ctx.keyring, client=client, entry=entry))
            except JSONBodyError as exc:
                found += 1
                typer.echo(f"{entry.id}\t{entry.section}\t{entry.author}\t{exc.code}")
    if found:
        raise typer.Exit(code=1)
    typer.echo("every stored entry can be served")


@audit_app.command("verify")
def audit_verify(
    url: Annotated[
        str | None,
        typer.Option(
            help="A running broker, e.g. http://127.0.0.1:8000 (default: read the database)."
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(envvar="GBO_AUDITOR_TOKEN", help="Supervisor auditor token (with --url)."),
    ] = None,
    key: Annotated[
        list[str] | None,
        typer.Option(
            help="A verifier key of the log, name+hash+base64 (repeat for the keys a rotation "
            "retired; default: the broker's own keys / the published /v1/audit/keys)."
        ),
    ] = None,
    state: Annotated[
        Path | None,
        typer.Option(
            help="File remembering the newest verified checkpoint (default: in GBO_DATA_DIR)."
        ),
    ] = None,
    witness: Annotated[
        list[str] | None,
        typer.Option(
            help="A witness to trust: '<cosigner vkey> [<url>]' (repeat; default: "
            "GBO_WITNESSES). With a URL its own latest view of the log is checked too."
        ),
    ] = None,
    quorum: Annotated[
        int | None,
        typer.Option(help="Valid witness cosignatures a checkpoint needs (default: 1 when "
                     "witnesses are given, else 0).", min=0),
    ] = None,
) -> None:
    """Recompute the whole log in constant memory and check it against the signed checkpoints,
    every leaf's stored query columns, and (with witnesses) their cosignatures and own view.
    Exit 1 and name the first bad index if anything was changed, removed, reordered or cut."""
    from rich.progress import Progress

    from audit.errors import AuditError, AuditIntegrityError
    from audit.keys import Ed25519Verifier
    from audit.store import AuditStore
    from broker.security.keys import load_audit_keys
    from broker.services import audit_verify as av
    from broker.store.db import check_migrated, make_engine
    from broker.witnessing import parse_witnesses

    settings = _settings()
    engine = None
    try:
        witnesses = parse_witnesses("\n".join(witness) if witness else settings.witnesses)
        needed = quorum if quorum is not None else (1 if witnesses else 0)
        if url is None:
            engine = make_engine(settings.resolved_database_url)
            check_migrated(engine)
            source = av.database_source(AuditStore(engine))
            key = key or [v.key_string() for v in load_audit_keys(settings).verifiers]
            state = state or settings.data_dir / "audit-verified-checkpoint.txt"
        else:
            base = url.rstrip("/")
            key = key or av.published_keys(base)
            source = av.http_source(base, token)
        verifiers = [Ed25519Verifier.from_key_string(k) for k in key]
        with Progress(transient=True, disable=source.total < 10_000) as bar:
            task = bar.add_task("verifying leaves", total=source.total)
            verified = av.verify(
                source, verifiers, state=state, progress=lambda n: bar.advance(task, n),
                witnesses=witnesses, quorum=needed,
            )
    except AuditIntegrityError as exc:
        where = f" at leaf {exc.index}" if exc.index is not None else ""
        typer.secho(f"TAMPERING DETECTED{where}: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1) from None
    except (BrokerError, AuditError, OSError, ValueError) as exc:
        raise _fail(getattr(exc, "detail", None) or str(exc)) from None
    finally:
        if engine is not None:
            engine.dispose()
    report = verified.report
    cp = report.checkpoint
    witnessed = ""
    if verified.quorum:
        witnessed = (f"; witnessed by {verified.quorum}+ of {len(witnesses)} witness(es) up "
                     f"to size {verified.witnessed_size}")
    typer.echo(
        f"OK: {report.leaves} leaves verified; checkpoint {cp.origin} size {cp.size} "
        f"root {base64.b64encode(cp.root_hash).decode()} ({report.checkpoints_checked} "
        f"checkpoints checked, {report.unsigned_tail} newer leaves not yet signed){witnessed}"
    )
    for name in verified.unreachable:
        typer.secho(f"warning: witness {name} could not be asked for its view", err=True,
                    fg=typer.colors.YELLOW)


@audit_app.command("key")
def audit_key() -> None:
    """Print the log's verifier key (``name+hash+base64``, the same as ``GET /v1/audit/key``),
    from the key file: what a witness and a monitor are given before the broker first serves."""
    from broker.security.keys import load_audit_signer

    try:
        signer, _ = load_audit_signer(_settings())
    except BrokerError as exc:
        raise _fail(exc.detail) from None
    typer.echo(signer.verifier.key_string())


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign a checkpoint of the current log if it grew, and print the newest one."""
    with _broker() as ctx:
        typer.echo(ctx.audit.log.checkpoint_now().note, nl=False)


@policy_app.command("test")
def policy_test(
    bundle: Annotated[
        Path | None, typer.Option(help="Bundle directory (default: GBO_POLICY_DIR or the shipped "
                                  "bundle).")
    ] = None,
) -> None:
    """Run the bundle's Rego unit tests (``*_test.rego``); exit 1 unless every test passes."""
    from broker.policy.rego_tests import main

    raise typer.Exit(code=main(bundle or _settings().resolved_policy_dir))


if __name__ == "__main__":
    app()
