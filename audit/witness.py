"""The C2SP tlog-witness protocol, log side (https://c2sp.org/tlog-witness): ``add-checkpoint``
and the witness's monitoring endpoint, over HTTP with the standard library.

Pure request building and answer parsing; :func:`add_checkpoint` and
:func:`fetch_witness_checkpoint` do the I/O. Scheduling (when to submit, back-off, storage of
cosignatures) is the caller's.
"""

from __future__ import annotations

import base64
import hashlib
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass

from audit.errors import AuditError

__all__ = [
    "MAX_PROOF_LINES",
    "WitnessAnswer",
    "WitnessUnavailable",
    "add_checkpoint",
    "add_checkpoint_body",
    "fetch_witness_checkpoint",
    "monitoring_path",
    "parse_answer",
]

MAX_PROOF_LINES = 63
"""tlog-witness add-checkpoint: "The client MUST NOT send more than 63 consistency proof lines"."""

_MAX_ANSWER = 64 * 1024


class WitnessUnavailable(AuditError):
    """The witness could not be reached, timed out or answered 5xx: try again later."""

    code = "audit_witness_unavailable"


@dataclass(frozen=True)
class WitnessAnswer:
    """What a witness said to ``add-checkpoint``: ``status`` 200 with ``lines`` (its
    cosignature lines), 409 with ``size`` (the size it last cosigned), or another status (a
    final refusal: 400, 403, 404, 422)."""

    status: int
    lines: tuple[str, ...] = ()
    size: int | None = None


def add_checkpoint_body(old_size: int, proof: Sequence[bytes], note: str) -> bytes:
    """tlog-witness add-checkpoint request body: ``old <size>``, the consistency proof from
    ``old_size`` one base64 hash a line, an empty line, the signed checkpoint.

    Raises ``ValueError`` for a proof over 63 hashes or one sent with old size 0.
    """
    if len(proof) > MAX_PROOF_LINES:
        raise ValueError("a consistency proof has at most 63 hashes")
    if old_size == 0 and proof:
        raise ValueError("no proof is sent from the empty tree")
    lines = [f"old {old_size}", *(base64.b64encode(h).decode() for h in proof), ""]
    return ("\n".join(lines) + "\n").encode() + note.encode("utf-8")


def parse_answer(status: int, content_type: str, body: bytes) -> WitnessAnswer:
    """A witness's answer. 200: one or more signature lines (``— name base64``); 409: the body
    is the witness's size in decimal and a newline, ``Content-Type: text/x.tlog.size``."""
    if status == 200:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return WitnessAnswer(status=502)
        lines = tuple(line + "\n" for line in text.split("\n") if line)
        if not lines or not all(line.startswith("\u2014 ") for line in lines):
            return WitnessAnswer(status=502)
        return WitnessAnswer(status=200, lines=lines)
    if status == 409:
        text = body.decode("ascii", "replace")
        if content_type.split(";")[0].strip() == "text/x.tlog.size" and text.endswith("\n") \
                and text[:-1].isdigit() and (text[:-1] == "0" or not text.startswith("0")):
            return WitnessAnswer(status=409, size=int(text[:-1]))
        return WitnessAnswer(status=502)
    return WitnessAnswer(status=status)


def add_checkpoint(submission_prefix: str, body: bytes, *, timeout: float) -> WitnessAnswer:
    """POST ``<submission prefix>/add-checkpoint``. Raises ``WitnessUnavailable`` when the
    witness is down, slow, or answers 5xx."""
    url = submission_prefix.rstrip("/") + "/add-checkpoint"
    if not url.startswith(("http://", "https://")):
        raise ValueError("a witness URL must start with http:// or https://")
    request = urllib.request.Request(url, data=body, method="POST")  # noqa: S310 - checked
    request.add_header("Content-Type", "text/plain; charset=utf-8")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return parse_answer(response.status, response.headers.get("Content-Type", ""),
                                response.read(_MAX_ANSWER))
    except urllib.error.HTTPError as exc:
        with exc:
            if exc.code >= 500:
                raise WitnessUnavailable(f"witness answered {exc.code}") from None
            return parse_answer(exc.code, exc.headers.get("Content-Type", ""),
                                exc.read(_MAX_ANSWER))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise WitnessUnavailable(f"witness unreachable: {type(exc).__name__}") from None


def monitoring_path(origin: str) -> str:
    """tlog-witness "Monitor Retrieval": ``<hex SHA-256 of the origin>/checkpoint``."""
    return hashlib.sha256(origin.encode("utf-8")).hexdigest() + "/checkpoint"


def fetch_witness_checkpoint(monitoring_prefix: str, origin: str, *,
                             timeout: float) -> str | None:
    """The latest checkpoint the witness cosigned for ``origin`` (with the log's signature and
    its own cosignature), or None when it never cosigned one (404). Raises
    ``WitnessUnavailable``."""
    url = monitoring_prefix.rstrip("/") + "/" + monitoring_path(origin)
    if not url.startswith(("http://", "https://")):
        raise ValueError("a witness URL must start with http:// or https://")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            text: str = response.read(_MAX_ANSWER).decode("utf-8")
            return text
    except urllib.error.HTTPError as exc:
        with exc:
            if exc.code == 404:
                return None
            raise WitnessUnavailable(f"witness answered {exc.code}") from None
    except (urllib.error.URLError, OSError, UnicodeDecodeError) as exc:
        raise WitnessUnavailable(f"witness unreachable: {type(exc).__name__}") from None
