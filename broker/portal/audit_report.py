"""What the auditor portal derives from the rows it may show (DESIGN §2): the CSV export and the
chart figures. Both read only ``audit_search.Row`` (pseudonymised, no detail), so neither can
carry content or an INSZ.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from broker.portal.audit_search import Row
from broker.portal.texts import local

CSV_COLUMNS = ("index", "tijdstip", "soort", "netwerk", "partner", "medewerker", "cliënt",
               "doel", "toegestaan", "geweigerd", "noodsituatie", "beleidsversie", "verzoek")
# OWASP "CSV injection": a spreadsheet runs a cell starting with one of these as a formula.
_FORMULA_START = "=+-@\t\r"
# Where a spreadsheet may start a new cell or row: the comma of RFC 4180, the semicolon that
# Excel in a nl-BE (or any comma-decimal) locale splits on, tab, and line breaks. A hostile value
# may carry any of them to start a cell of its own, so a formula start right after one (blanks
# between allowed) is neutralised as well as one at the start of the value.
_CELL_START = re.compile(r"(^|[,;\t\r\n])([ ]*)(?=[" + re.escape(_FORMULA_START) + r"])")


def safe_cell(value: str) -> str:
    """``value`` with an apostrophe before every formula start a spreadsheet could see: at the
    start of the value and after each separator character, whatever delimiter it splits on."""
    return _CELL_START.sub(lambda m: m.group(1) + "'" + m.group(2), value)


def csv_record(row: Row) -> list[str]:
    denied = "; ".join(f"{name} ({', '.join(reasons)})" if reasons else name
                       for name, reasons in row.denied)
    values = [str(row.index), row.time, row.kind, row.network, row.partner, row.worker,
              row.client, row.purpose, "; ".join(row.granted), denied,
              "ja" if row.break_glass else "nee", row.policy_version, row.request_id]
    return [safe_cell(v) for v in values]


def csv_chunks(rows: Iterable[Row]) -> Iterator[str]:
    """The export, a chunk per row (streamed): a header line, then one line per row."""
    buffer = io.StringIO()
    # RFC 4180 line ends; every cell quoted, so a separator inside a value stays inside its cell
    # for a reader that honours quotes (the neutralising above covers one that does not).
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_ALL)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(CSV_COLUMNS)
    yield "\ufeff" + flush()  # a BOM, so spreadsheet programs read UTF-8 (cliënt)
    for row in rows:
        writer.writerow(csv_record(row))
        yield flush()


def day_of(moment: str) -> str:
    """The Belgian calendar day (YYYY-MM-DD) of a log time."""
    return local(datetime.fromisoformat(moment.replace("Z", "+00:00"))).date().isoformat()


@dataclass
class ChartData:
    """Accesses per day per partner, denials by reason code, break-glass events per day."""

    accesses: dict[str, Counter[str]] = field(default_factory=dict)  # day -> partner -> n
    reasons: Counter[str] = field(default_factory=Counter)
    break_glass: Counter[str] = field(default_factory=Counter)  # day -> n
    rows: int = 0
    truncated: bool = False

    def add(self, row: Row) -> None:
        self.rows += 1
        if not row.kind.startswith("access."):
            return
        day = day_of(row.time)
        self.accesses.setdefault(day, Counter())[row.partner or "?"] += 1
        for _, reasons in row.denied:
            self.reasons.update(reasons)
        if row.break_glass:
            self.break_glass[day] += 1

    @property
    def days(self) -> list[str]:
        return sorted(self.accesses)

    @property
    def partners(self) -> list[str]:
        return sorted({p for per_day in self.accesses.values() for p in per_day})

    def access_table(self) -> list[tuple[str, list[int], int]]:
        """Per day: the count per partner (in ``partners`` order) and the day's total."""
        partners = self.partners
        return [(day, [self.accesses[day][p] for p in partners],
                 sum(self.accesses[day].values())) for day in self.days]

    def reason_table(self) -> list[tuple[str, int]]:
        return sorted(self.reasons.items(), key=lambda item: (-item[1], item[0]))

    def break_glass_table(self) -> list[tuple[str, int]]:
        return sorted(self.break_glass.items())

    def as_json(self) -> dict[str, Any]:
        """The same figures for the chart script (it draws what the tables say)."""
        partners = self.partners
        return {
            "days": self.days,
            "partners": partners,
            "accesses": {p: [self.accesses[d][p] for d in self.days] for p in partners},
            "reasons": self.reason_table(),
            "breakGlass": self.break_glass_table(),
        }


def chart_data(rows: Iterable[Row], *, limit: int) -> ChartData:
    data = ChartData()
    for row in rows:
        if data.rows == limit:
            data.truncated = True
            break
        data.add(row)
    return data
