"""Load generation for the load benchmarks: closed and open loop, a /healthz poller, tokens.

A small HTTP/1.1 client on asyncio streams (keep-alive, ``Content-Length`` bodies, which is all
the broker sends), so that every request's status, latency and audit index is known exactly —
wrk reports neither per-status counts nor the body, and counts its timeouts only roughly.

- **Closed loop** (``closed_loop``): N connections, each sending its next request when the
  previous answer arrived (as wrk does). Latency is measured from the send.
- **Open loop** (``open_loop``): requests scheduled at fixed times (a constant rate), sent when
  their time comes whatever the earlier ones are doing, each on an idle connection or a new one.
  Latency is measured from the *scheduled* time, so a stall of the server (or of this generator)
  counts against every request that should have been sent during it: no coordinated omission.
- **Health** (``HealthPoller``): ``GET /healthz`` on a new connection every ``interval`` seconds
  throughout a run, as a load balancer's check would; reports the worst latency.

Tokens are single-use (``jti``): ``TokenSupply`` hands out fresh ones, minted in a child process
a chunk ahead of use (a token lives at most 5 minutes, DESIGN §5, so a long run cannot mint
them all up front). A request refused by admission (503 ``overloaded``, nothing done) hands its
token back: the broker never read it, as a client retrying after ``Retry-After`` would resend it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from _common import percentile

KEEP_ALIVE_S = 4.0  # reuse an idle connection only this long (the server closes it after 5 s)
TIMED_OUT = 0  # status of a request with no answer within the timeout
CONN_ERROR = -1  # status of a request whose connection failed


@dataclass(frozen=True)
class Sample:
    start: float  # monotonic: the send (closed loop) or the scheduled time (open loop)
    latency: float  # seconds from start to the whole answer (or to the timeout)
    status: int  # HTTP status, TIMED_OUT or CONN_ERROR
    code: str = ""  # the problem's code of an error answer
    index: int | None = None  # audit.index of a 200
    request_id: str = ""  # request_id of a 200 (its audit entry carries it)
    policy_failed: bool = False  # a 200 whose decision failed closed (reason policy_error)


@dataclass
class Result:
    samples: list[Sample] = field(default_factory=list)
    seconds: float = 0.0
    lag_max: float = 0.0  # open loop: the generator's worst lateness sending (its own health)
    token_waits: int = 0  # requests that waited for the token supply

    def summary(self, timeout: float) -> dict[str, float]:
        ok = [s.latency for s in self.samples if s.status == 200]
        answered = [s.latency for s in self.samples if s.status > 0]
        statuses = Counter(s.status for s in self.samples)
        return {
            "requests": len(self.samples),
            "ok": len(ok),
            "rps": len(ok) / self.seconds if self.seconds else 0.0,
            "p50": 1000 * percentile(ok, 50) if ok else float("nan"),
            "p99": 1000 * percentile(ok, 99) if ok else float("nan"),
            "p999": 1000 * percentile(ok, 99.9) if ok else float("nan"),
            "max": 1000 * max(answered) if answered else float("nan"),
            "5xx": sum(n for st, n in statuses.items() if st >= 500),
            "500": statuses[500],
            "503": statuses[503],
            "4xx": sum(n for st, n in statuses.items() if 400 <= st < 500),
            "timeouts": statuses[TIMED_OUT]
            + sum(1 for s in self.samples if s.status > 0 and s.latency > timeout),
            "conn_errors": statuses[CONN_ERROR],
            "policy_failed": sum(1 for s in self.samples if s.policy_failed),
        }

    def codes(self) -> Counter[str]:
        return Counter(f"{s.status} {s.code}".strip() for s in self.samples
                       if s.status != 200 or s.code)


# --- tokens -------------------------------------------------------------------------------------


def mint_tokens(data_dir: str, partner: str, count: int) -> list[str]:
    """``count`` fresh partner tokens of the demo partner ``partner`` (in a child process)."""
    from broker.security.tokens import partner_token
    from broker.settings import Settings

    settings = Settings(data_dir=Path(data_dir), demo=True)
    now = datetime.now(UTC)
    return [partner_token(settings, partner=partner, worker="w-1", now=now, lifetime=290)
            for _ in range(count)]


class TokenSupply:
    """Fresh tokens, minted ``chunk`` at a time in a child process while fewer than ``chunk``
    remain; tokens minted over 4 minutes ago are dropped (they expire after 290 s)."""

    def __init__(self, data_dir: Path, partner: str, *, chunk: int = 4000,
                 initial: int = 0) -> None:
        self.data_dir, self.partner, self.chunk = str(data_dir), partner, chunk
        self._pool = ProcessPoolExecutor(1)
        now = time.monotonic()
        self._tokens: deque[tuple[float, str]] = deque(
            (now, t) for t in mint_tokens(self.data_dir, partner, initial))
        self._refill: asyncio.Future[list[str]] | None = None
        self.waits = 0  # takes that found no token and waited for the child

    def _collect(self) -> None:
        if self._refill is not None and self._refill.done():
            now = time.monotonic()
            self._tokens.extend((now, t) for t in self._refill.result())
            self._refill = None
        while self._tokens and time.monotonic() - self._tokens[0][0] > 240:
            self._tokens.popleft()
        if len(self._tokens) < self.chunk and self._refill is None:
            self._refill = asyncio.get_running_loop().run_in_executor(
                self._pool, mint_tokens, self.data_dir, self.partner, self.chunk)

    async def take(self) -> tuple[float, str]:
        """A fresh token, with when it was minted (monotonic), to hand back if unread."""
        self._collect()
        if not self._tokens:
            self.waits += 1
        while not self._tokens:
            assert self._refill is not None
            await asyncio.wait({self._refill})
            self._collect()
        return self._tokens.popleft()

    def give_back(self, token: tuple[float, str]) -> None:
        self._tokens.appendleft(token)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


# --- HTTP/1.1 on asyncio streams -----------------------------------------------------------------


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.last_used = time.monotonic()

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send ``raw`` (a whole request) and read the answer: (status, body)."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, close = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        body = await self.reader.readexactly(length) if length else b""
        if close:
            self.close()
        return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def post(path: str, host: str, body: bytes, token: str) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body


def _read(status: int, body: bytes) -> tuple[str, int | None, str]:
    """(problem code, audit index, request id) of an answer."""
    if status == 200:
        doc = json.loads(body)
        index = doc.get("audit", {}).get("index")
        failed = "policy_error" if b'"policy_error"' in body else ""
        return failed, index if isinstance(index, int) else None, str(doc.get("request_id", ""))
    try:
        code = json.loads(body).get("code", "")
    except ValueError:
        code = "not_json"
    return str(code), None, ""


@dataclass
class Target:
    host: str
    port: int
    path: str
    body: bytes


async def _one(conn: Connection, target: Target, token: str, timeout: float,
               start: float) -> Sample:
    raw = post(target.path, f"{target.host}:{target.port}", target.body, token)
    try:
        status, body = await asyncio.wait_for(conn.request(raw), timeout)
    except TimeoutError:
        conn.close()  # the answer may still come: not on this connection
        return Sample(start, time.monotonic() - start, TIMED_OUT)
    except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
        conn.close()
        return Sample(start, time.monotonic() - start, CONN_ERROR)
    code, index, request_id = _read(status, body)
    return Sample(start, time.monotonic() - start, status, code, index, request_id,
                  code == "policy_error")


async def closed_loop(target: Target, tokens: TokenSupply, *, connections: int, seconds: float,
                      timeout: float) -> Result:
    """``connections`` clients, each sending as soon as its previous answer arrived."""
    result = Result()
    began = time.monotonic()
    deadline = began + seconds

    async def client() -> None:
        conn = Connection(target.host, target.port)
        try:
            while time.monotonic() < deadline:
                token = await tokens.take()
                sample = await _one(conn, target, token[1], timeout, time.monotonic())
                result.samples.append(sample)
                if sample.status == 503 and sample.code == "overloaded":
                    tokens.give_back(token)
                elif sample.status == CONN_ERROR:
                    await asyncio.sleep(0.01)
        finally:
            conn.close()

    await asyncio.gather(*(client() for _ in range(connections)))
    result.seconds = time.monotonic() - began
    result.token_waits = tokens.waits
    return result


async def open_loop(target: Target, tokens: TokenSupply, *, rate: float, seconds: float,
                    timeout: float, max_connections: int = 1024) -> Result:
    """Requests at ``rate`` per second for ``seconds``, each timed from its scheduled moment."""
    result = Result()
    idle: list[Connection] = []
    opened = 0
    freed = asyncio.Condition()
    pending: set[asyncio.Task[None]] = set()

    async def send(scheduled: float) -> None:
        nonlocal opened
        async with freed:
            while not idle and opened >= max_connections:
                await freed.wait()
            # An idle connection is dropped before uvicorn's keep-alive timeout (5 s) would close
            # it under a request (which would count as a connection error, not the server's).
            while idle and time.monotonic() - idle[-1].last_used > KEEP_ALIVE_S:
                idle.pop().close()
                opened -= 1
            if idle:
                conn = idle.pop()
            else:
                opened += 1
                conn = Connection(target.host, target.port)
        token = await tokens.take()
        remaining = max(0.001, scheduled + timeout - time.monotonic())
        sample = await _one(conn, target, token[1], remaining, scheduled)
        result.samples.append(sample)
        if sample.status == 503 and sample.code == "overloaded":
            tokens.give_back(token)
        async with freed:
            conn.last_used = time.monotonic()
            idle.append(conn)
            freed.notify()

    began = time.monotonic()
    total = int(rate * seconds)
    for i in range(total):
        scheduled = began + i / rate
        delay = scheduled - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        result.lag_max = max(result.lag_max, time.monotonic() - scheduled)
        task = asyncio.create_task(send(scheduled))
        pending.add(task)
        task.add_done_callback(pending.discard)
    if pending:
        await asyncio.wait(pending)
    result.seconds = seconds
    result.token_waits = tokens.waits
    for conn in idle:
        conn.close()
    return result


class HealthPoller:
    """``GET /healthz`` on a fresh connection every ``interval`` s; the worst latency seen."""

    def __init__(self, host: str, port: int, *, interval: float = 0.2,
                 timeout: float = 10.0) -> None:
        self.host, self.port, self.interval, self.timeout = host, port, interval, timeout
        self.latencies: list[float] = []
        self.failures = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        raw = f"GET /healthz HTTP/1.1\r\nHost: {self.host}\r\nConnection: close\r\n\r\n".encode()
        while True:
            started = time.monotonic()
            conn = Connection(self.host, self.port)
            try:
                status, _ = await asyncio.wait_for(conn.request(raw), self.timeout)
                if status != 200:
                    self.failures += 1
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                self.failures += 1
            finally:
                conn.close()
            self.latencies.append(time.monotonic() - started)
            await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - started)))

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def worst_ms(self) -> float:
        return 1000 * max(self.latencies) if self.latencies else float("nan")


def run(coro_factory: Callable[[], object]) -> object:
    return asyncio.run(coro_factory())  # type: ignore[arg-type]
