"""Plain Dutch (B1) for referrals in the portals (DESIGN §2, §10): each status as the client
reads it ("Je bent doorverwezen naar ... — status: aangekomen") and as an auditor counts it."""

from __future__ import annotations

# DESIGN §10: a referral's status, said to the client.
STATUS = {
    "awaiting_consent": "wacht op je toestemming",
    "proposed": "voorgesteld, de dienst antwoordt nog",
    "accepted": "aangekomen",
    "declined": "niet aanvaard door de dienst",
    "completed": "afgerond",
    "dropped": "gestopt, je kwam niet (meer) aan",
    "expired": "verlopen, de dienst antwoordde niet op tijd",
    "consent_refused": "gestopt, je gaf geen toestemming",
}

# The same statuses as column headings of the auditor's counts.
OUTCOMES = {
    "awaiting_consent": "Wacht op toestemming",
    "proposed": "Voorgesteld",
    "accepted": "Aanvaard",
    "declined": "Geweigerd",
    "completed": "Afgerond",
    "dropped": "Uitval",
    "expired": "Verlopen",
    "consent_refused": "Geen toestemming",
}


def status_text(status: str) -> str:
    return STATUS.get(status, "onbekend")
