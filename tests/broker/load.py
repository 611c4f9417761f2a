"""Load on a live broker for drills (backup, key rotation): requests in a thread."""

from __future__ import annotations

import threading

import httpx2 as httpx

from broker.settings import Settings
from tests.factories import VALID_INSZ, client_auth, partner_auth


class Load:
    """Requests in a thread against a live broker until stopped, each answer counted: a
    partner writes entries and makes access requests, the client reads their dossier."""

    def __init__(self, base: str, settings: Settings) -> None:
        self.base, self.settings = base, settings
        self.done = 0
        self.failures: list[str] = []
        self.progress = threading.Condition()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=30) as api:
            while not self.stop.is_set():
                if self.done % 3 == 1:
                    response = api.post("/v1/access-requests", json={
                        "insz": VALID_INSZ, "purpose": "rechtenverkenning"},
                        headers=partner_auth(self.settings, "caw-oost-vlaanderen"))
                    ok = response.status_code == 200
                elif self.done % 3 == 2:
                    response = api.get("/v1/me/dossier",
                                       headers=client_auth(self.settings, VALID_INSZ))
                    ok = response.status_code == 200
                else:
                    response = api.post("/v1/entries", json={
                        "insz": VALID_INSZ, "section": "inkomen",
                        "content": {"bedrag": self.done}}, headers=partner_auth(self.settings))
                    ok = response.status_code == 201
                with self.progress:
                    self.done += 1
                    if not ok:
                        self.failures.append(f"{response.status_code} {response.text[:200]}")
                    self.progress.notify_all()

    def wait_for(self, count: int) -> None:
        """Until ``count`` requests were answered (a bounded wait, not a timing)."""
        with self.progress:
            assert self.progress.wait_for(lambda: self.done >= count or not self.thread.is_alive(),
                                          timeout=120)

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(timeout=60)
