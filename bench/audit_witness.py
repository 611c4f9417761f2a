"""What witnesses cost, and verifying the log from outside (DESIGN §9).

1. Appends with 0, 1 and 2 witnesses: the audit log (``audit.log.TransparencyLog``, group commit,
   SQLite WAL with ``synchronous=FULL``) takes appends from ``K`` threads for ``--seconds``; with
   witnesses, the broker's own witnessing thread (``broker.witnessing.Witnessing``)
   submits each new checkpoint with its consistency proof to real ``aics-witness`` processes on
   loopback and stores their cosignatures, as ``GBO_WITNESSES`` makes a running broker do. The
   three configurations take turns round by round (fresh log and fresh witnesses each run); the
   ratios are appends/s with witnesses over appends/s without. Checkpoints and witnessing
   rounds run at the broker's defaults (every 2 s and 1 s) and, as a worst case, every 0.2 s.
2. Verifying a log of ``--leaves`` entries served by a real ``gbo-broker serve`` process:
   ``audit verify`` from the database (in process) vs ``audit verify --url`` (the paged leaves
   API, every query column recomputed) vs an independent C2SP tiles client (``aics-tlog``'s
   ``audit_tiles`` in its own process over ``/v1/audit/tile/...``, with and without the entry
   bundles), alternating round by round; the ratios are leaves/s over the database's.

    make .venv-witness/.installed          # aics-witness and aics-tlog (Python 3.12+)
    .venv/bin/python bench/audit_witness.py [--rounds 5] [--seconds 8] [--threads 16]
                                            [--leaves 10000] [--part appends|verify|both]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from _common import create_log, median, sample_entry
from sqlalchemy import create_engine, func, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests/witness_process.py: the witness processes of the tests

from audit.keys import Ed25519Signer  # noqa: E402
from audit.log import TransparencyLog  # noqa: E402
from audit.schema import audit_cosignature  # noqa: E402
from audit.store import AuditStore, writer_engine  # noqa: E402
from broker.services.audit_verify import database_source, http_source, verify  # noqa: E402
from broker.witnessing import Witnessing, parse_witnesses  # noqa: E402
from tests.witness_process import TILES_BIN, WITNESS_BIN, WitnessProcess, make_witness  # noqa: E402

CLI = Path(sys.executable).with_name("gbo-broker")
READY_TIMEOUT_S = 30
SCHEDULES = {"defaults (checkpoint 2 s, witness 1 s)": (2.0, 1.0),
             "worst case (checkpoint 0.2 s, witness 0.2 s)": (0.2, 0.2)}

TILES_CLIENT = """
import base64, sys, time
from aics_tlog.remote import HttpTileReader
from aics_tlog.verified import audit_tiles
base, token, entries = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
reader = HttpTileReader([base + "/v1/audit/"], proxies={})
reader._opener.addheaders = [("Authorization", "Bearer " + token)]
t0 = time.perf_counter()
lines = reader.read_checkpoint().decode().split("\\n")
size, root = int(lines[1]), base64.b64decode(lines[2])
report = audit_tiles(reader, size, root, entries=entries)
print(report.size, time.perf_counter() - t0)
"""


# --- 1. appends with 0, 1, 2 witnesses ----------------------------------------------------------


@contextmanager
def witnesses(home: Path, count: int, origin: str, log_vkey: str) -> Iterator[list[WitnessProcess]]:
    started: list[WitnessProcess] = []
    try:
        for i in range(count):
            w = make_witness(home / f"w{i}", name=f"witness.bench/w{i}", origin=origin,
                             log_vkey=log_vkey)
            w.start()
            started.append(w)
        yield started
    finally:
        for w in started:
            w.stop()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    rate: float  # appends/s
    cpu_us: float  # per append: this process's CPU (appenders, writer, checkpoints, witnessing)
    witness_cpu_us: float  # the witness processes' CPU per append
    cosignatures: int  # cosignatures stored
    lag_s: float  # leaves not yet cosigned by every witness at the end, in seconds of appends


def run_appends(workdir: Path, tag: str, n_witnesses: int, *, seconds: float, threads: int,
                checkpoint_every: float, witness_every: float) -> Run:
    """``threads`` threads append for ``seconds`` to a fresh log with ``n_witnesses`` fresh
    witnesses."""
    signer = Ed25519Signer.generate(f"bench.example/{tag}")
    path = workdir / f"{tag}.sqlite3"
    url = f"sqlite:///{path}"
    create_log(url)
    engine = create_engine(url)
    log = TransparencyLog(engine=engine, signer=signer, checkpoint_interval=checkpoint_every)
    with ExitStack() as stack:
        procs = stack.enter_context(witnesses(workdir / tag, n_witnesses, signer.name,
                                              signer.verifier.key_string()))
        configured = parse_witnesses(",".join(w.config for w in procs))
        witnessing = None
        if procs:
            witnessing = Witnessing(store=log.store, witnesses=configured,
                                    log_verifier=signer.verifier, interval=witness_every)
            witnessing.start()
        stop = threading.Event()
        counts = [0] * threads
        start = threading.Barrier(threads + 1)

        def work(t: int) -> None:
            n = t * 10_000_000
            start.wait()
            while not stop.is_set():
                log.append(sample_entry(n))
                n += 1
                counts[t] += 1

        pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
        for thread in pool:
            thread.start()
        start.wait()
        t0, cpu0 = time.perf_counter(), time.process_time()
        w0 = sum(_cpu_seconds(w.process.pid) for w in procs if w.process)
        time.sleep(seconds)  # the measured window (a benchmark, not a test)
        stop.set()
        for thread in pool:
            thread.join()
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        w_cpu = sum(_cpu_seconds(w.process.pid) for w in procs if w.process) - w0
        appended = sum(counts)
        if witnessing is not None:
            witnessing.close()
        cosigned = min((log.store.witnessed_size(w.public_key) or 0 for w in configured),
                       default=0)
        size = log.store.size()
        with engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(audit_cosignature)).scalar_one()
    log.close()
    engine.dispose()
    path.unlink()
    rate = appended / elapsed
    return Run(rate=rate, cpu_us=cpu / appended * 1e6, witness_cpu_us=w_cpu / appended * 1e6,
               cosignatures=stored, lag_s=(size - cosigned) / rate if procs else 0.0)


def bench_appends(args: argparse.Namespace, workdir: Path) -> None:
    print(f"\n== appends with 0, 1, 2 witnesses (K = {args.threads} threads, {args.seconds:g} s "
          f"per run, {args.rounds} rounds) ==")
    for label, (checkpoint_every, witness_every) in SCHEDULES.items():
        runs: dict[int, list[Run]] = {0: [], 1: [], 2: []}
        for r in range(args.rounds):
            order = [0, 1, 2] if r % 2 == 0 else [2, 1, 0]
            for n in order:
                runs[n].append(run_appends(
                    workdir, f"r{r}-w{n}-{checkpoint_every:g}", n, seconds=args.seconds,
                    threads=args.threads, checkpoint_every=checkpoint_every,
                    witness_every=witness_every))
            print(f"  round {r}: " + "  ".join(
                f"{n} w: {runs[n][-1].rate:6,.0f}/s {runs[n][-1].cpu_us:5,.0f} us CPU"
                for n in (0, 1, 2)), flush=True)
        print(f"  {label}:")
        for n in (0, 1, 2):
            done = runs[n]
            print(f"    {n} witness(es): {median([x.rate for x in done]):7,.0f} appends/s, "
                  f"{median([x.cpu_us for x in done]):5,.0f} us CPU per append in the log's "
                  f"process + {median([x.witness_cpu_us for x in done]):4,.0f} us in the "
                  f"witnesses; {median([x.cosignatures for x in done]):4,.0f} cosignatures "
                  f"stored, cosigned up to {median([x.lag_s for x in done]):.1f} s behind")
        for n in (1, 2):
            rate = [a.rate / b.rate for a, b in zip(runs[n], runs[0], strict=True)]
            cpu = [a.cpu_us / b.cpu_us for a, b in zip(runs[n], runs[0], strict=True)]
            print(f"RESULT witnesses {label}: appends/s {n} / 0 = {median(rate):.2f} "
                  f"(rounds {min(rate):.2f}-{max(rate):.2f}); CPU per append {n} / 0 = "
                  f"{median(cpu):.2f} (rounds {min(cpu):.2f}-{max(cpu):.2f})")


# --- 2. verifying from the database, over --url and over tiles --------------------------------


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(CLI), *args], env=env, check=True, capture_output=True, text=True,
                          timeout=300)
    return done.stdout.strip()


@contextmanager
def served_log(workdir: Path, leaves: int) -> Iterator[tuple[str, str, dict[str, str]]]:
    """A demo broker whose log holds ``leaves`` entries and a checkpoint of them, served by
    ``gbo-broker serve`` on a free loopback port: (base URL, supervisor token, environment)."""
    env = {**os.environ, "GBO_DEMO": "1", "GBO_DATA_DIR": str(workdir / "var"),
           "GBO_CHECKPOINT_INTERVAL": "0"}
    env.pop("GBO_DATABASE_URL", None)
    _cli(env, "demo")
    url = f"sqlite:///{workdir / 'var' / 'gbo.sqlite3'}"
    engine, writer = create_engine(url), writer_engine(url)
    store = AuditStore(engine, writer=writer)
    have = store.size()
    for start in range(have, leaves, 5_000):
        store.append_batch([sample_entry(n) for n in range(start, min(leaves, start + 5_000))])
    engine.dispose()
    writer.dispose()
    _cli(env, "audit", "checkpoint")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with (workdir / "serve.log").open("wb") as err:
        proc = subprocess.Popen([str(CLI), "serve", "--port", str(port)], env=env,
                                stdout=subprocess.DEVNULL, stderr=err)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                with urllib.request.urlopen(f"{base}/readyz", timeout=1) as answer:  # noqa: S310
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((workdir / "serve.log").read_text()[-2000:])
            time.sleep(0.1)
        yield base, _cli(env, "token", "auditor", "--scope", "supervisor"), env
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def bench_verify(args: argparse.Namespace, workdir: Path) -> None:
    from broker.security.keys import load_audit_signer
    from broker.settings import Settings

    with served_log(workdir, args.leaves) as (base, token, env):
        os.environ.update({k: env[k] for k in ("GBO_DEMO", "GBO_DATA_DIR")})
        settings = Settings()
        verifier = load_audit_signer(settings)[0].verifier
        engine = create_engine(settings.resolved_database_url)
        store = AuditStore(engine)
        size = store.size()
        print(f"\n== verifying a log of {size:,} leaves ({args.rounds} rounds) ==")

        def database() -> float:
            t0 = time.perf_counter()
            done = verify(database_source(store), verifier, state=None)
            assert done.report.leaves == size
            return size / (time.perf_counter() - t0)

        def over_url() -> float:
            t0 = time.perf_counter()
            done = verify(http_source(base, token), verifier, state=None)
            assert done.report.leaves == size
            return size / (time.perf_counter() - t0)

        def tiles(entries: bool) -> float:
            out = subprocess.run([str(TILES_BIN.with_name("python")), "-c", TILES_CLIENT, base,
                                  token, "1" if entries else "0"],
                                 capture_output=True, text=True, timeout=600, check=True)
            audited, seconds = out.stdout.split()
            assert int(audited) == size
            return size / float(seconds)

        sides = {"audit verify (database)": database,
                 "audit verify --url (leaves API)": over_url,
                 "aics-tlog over tiles + entry bundles": lambda: tiles(True),
                 "aics-tlog over hash tiles only": lambda: tiles(False)}
        rates: dict[str, list[float]] = {name: [] for name in sides}
        for side in sides.values():  # one uncounted warm-up each
            side()
        for r in range(args.rounds):
            order = list(sides) if r % 2 == 0 else list(reversed(sides))
            for name in order:
                rates[name].append(sides[name]())
            print(f"  round {r}: " + "  ".join(f"{rates[n][-1]:9,.0f}" for n in sides),
                  flush=True)
        base_rate = median(rates["audit verify (database)"])
        for name in sides:
            print(f"  {name:40s} median {median(rates[name]):10,.0f} leaves/s")
        for name in list(sides)[1:]:
            per_round = [a / b for a, b in zip(rates[name], rates["audit verify (database)"],
                                               strict=True)]
            print(f"RESULT verify {name} / database = {median(rates[name]) / base_rate:.2f} "
                  f"(rounds {min(per_round):.2f}-{max(per_round):.2f})")
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--leaves", type=int, default=10_000)
    parser.add_argument("--part", choices=("appends", "verify", "both"), default="both")
    args = parser.parse_args()
    if not (WITNESS_BIN.exists() and TILES_BIN.exists()):
        sys.exit(f"aics-witness / aics-tlog missing at {WITNESS_BIN.parent}: "
                 "make .venv-witness/.installed")
    with tempfile.TemporaryDirectory(prefix="gbo-bench-witness-") as tmp:
        if args.part in ("appends", "both"):
            (Path(tmp) / "appends").mkdir()
            bench_appends(args, Path(tmp) / "appends")
        if args.part in ("verify", "both"):
            (Path(tmp) / "verify").mkdir()
            bench_verify(args, Path(tmp) / "verify")


if __name__ == "__main__":
    main()
