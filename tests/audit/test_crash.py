"""DESIGN §7: an append that returned survives the writer process being killed (SIGKILL).

A child process (fresh interpreter, ``appender.py``) appends from several threads and prints each
acknowledgement the moment ``append`` returns; the parent kills it with SIGKILL while appends are
in flight, then checks the database: every acknowledged entry is there with the same leaf hash,
nothing has a gap, a new log object resumes at the next index, and the log verifies.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

from sqlalchemy import Engine

from audit.keys import Ed25519Signer
from audit.log import TransparencyLog
from tests.audit.logdb import (
    sample_entry,
    stored_leaf_hashes,
    stored_node_indices,
    verify_against_fresh_checkpoint,
)

APPENDER = Path(__file__).with_name("appender.py")
REPO = Path(__file__).resolve().parents[2]
ACKS_BEFORE_KILL = 50
ACK_TIMEOUT_S = 60


def _read_lines(stream: IO[str], into: queue.SimpleQueue[str]) -> None:
    for line in stream:
        into.put(line)


def _acks_then_kill(url: str) -> dict[int, str]:
    """Run the appender until it acknowledged ``ACKS_BEFORE_KILL`` entries, SIGKILL it, and
    return every acknowledgement it printed in full (``{index: leaf hash hex}``)."""
    with subprocess.Popen(
        [sys.executable, str(APPENDER), url, "--source", "crash", "--threads", "4"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        lines: queue.SimpleQueue[str] = queue.SimpleQueue()
        reader = threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True)
        reader.start()
        acks: dict[int, str] = {}
        try:
            assert lines.get(timeout=ACK_TIMEOUT_S).strip() == "ready"
            while len(acks) < ACKS_BEFORE_KILL:
                index, hash_hex, _ = lines.get(timeout=ACK_TIMEOUT_S).split()
                acks[int(index)] = hash_hex
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        reader.join(timeout=10)
        # Lines printed before the kill are acknowledgements too; a torn last line is not.
        while not lines.empty():
            line = lines.get()
            if line.endswith("\n"):
                index, hash_hex, _ = line.split()
                acks[int(index)] = hash_hex
    assert proc.returncode == -signal.SIGKILL
    return acks


def test_acknowledged_appends_survive_sigkill_and_the_log_resumes_and_verifies(
    log_url: str, log_engine: Engine, signer: Ed25519Signer
) -> None:
    acks = _acks_then_kill(log_url)

    stored = stored_leaf_hashes(log_engine)
    for index, hash_hex in acks.items():
        assert stored.get(index, b"").hex() == hash_hex, f"acknowledged entry {index} was lost"
    size = len(stored)
    assert size >= len(acks) >= ACKS_BEFORE_KILL
    assert sorted(stored) == list(range(size))  # no gap, even if the kill hit a commit
    assert stored_node_indices(log_engine) == list(range(size))

    log = TransparencyLog(engine=log_engine, signer=signer, checkpoint_interval=0)
    try:
        resumed = log.append(sample_entry(0, source="after-restart"), timeout=30)
        assert resumed.index == size
        assert stored_leaf_hashes(log_engine)[size] == resumed.leaf_hash
        report = verify_against_fresh_checkpoint(log)
    finally:
        log.close()
    assert report.leaves == size + 1
