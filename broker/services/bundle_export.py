"""Exports of a released signal bundle (DESIGN §11): the figures as CSV, and a PDF report in
Dutch with charts and a method paragraph for a policy reader. Only what the bundle holds is
shown: noisy, suppressed values (a suppressed cell reads "< 10"), never a raw count.

The PDF is made with fpdf2 and its charts with matplotlib (Agg, no display); its font is the
DejaVu Sans that matplotlib ships, so that ë, é and ε print.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING

from broker.schemas.signals import BundlePublic, Figure
from broker.security.registry import Registry
from broker.services.dp_release import MIN_CELL

if TYPE_CHECKING:
    from fpdf import FPDF

# matplotlib and fpdf2 are imported when a report is made, not when the broker starts (seconds
# of start-up for a page few ask for).

CSV_COLUMNS = ("figuur", "kwartaal", "categorie", "waarde", "onderdrukt", "epsilon",
               "ruisschaal", "gevoeligheid")
STATUS_NL = {"open": "open", "in_behandeling": "in behandeling",
             "gesignaleerd": "gesignaleerd aan de overheid", "afgesloten": "afgesloten"}


def _category(key: dict[str, str]) -> str:
    return " / ".join(v.replace("_", " ") for k, v in key.items() if k != "kwartaal")


def figures_csv(bundle: BundlePublic) -> str:
    """One row per cell; a suppressed cell has an empty value."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for figure in bundle.figures:
        for cell in figure.cells:
            writer.writerow([figure.name, cell.key.get("kwartaal", ""), _category(cell.key),
                             "" if cell.value is None else cell.value,
                             "ja" if cell.suppressed else "nee", f"{figure.epsilon:.4f}",
                             "" if figure.scale is None else f"{figure.scale:.4f}",
                             figure.sensitivity])
    return out.getvalue()


def method_text(bundle: BundlePublic) -> list[str]:
    """The method paragraph (Dutch), for a policy reader."""
    return [
        "De cijfers tellen cliënten, geen dossiers of gesprekken. Ze komen uit het eigen "
        "auditlogboek van de broker: welke partner gegevens vroeg en voor welk doel, wanneer "
        "iemand toestemming gaf of introk. De inhoud van dossiers wordt daarvoor nooit gelezen.",
        "Kleine aantallen over kwetsbare mensen in een kleine gemeente kunnen iemand "
        "herkenbaar maken. Daarom zijn de cijfers met opzet een beetje onnauwkeurig gemaakt "
        "(differentiële privacy): bij elk getal is willekeurige ruis opgeteld, getrokken uit "
        "een discrete Laplaceverdeling met de bibliotheek OpenDP. Eén cliënt telt in een "
        "figuur in hoogstens enkele cellen mee (de 'gevoeligheid'), zodat één persoon meer of "
        "minder de uitkomst nauwelijks verandert. Hoe groot de ruis is, zegt ε (epsilon): hoe "
        "kleiner ε, hoe meer ruis en hoe beter de bescherming. Bij een ruisschaal b wijkt een "
        "getal gemiddeld ongeveer 1,4 × b af van de echte telling, naar boven of naar beneden.",
        f"Elk netwerk mag per kalenderjaar samen hoogstens ε = {_num(bundle.budget)} "
        "uitgeven; een bundel die daarboven zou gaan, wordt niet vrijgegeven. Deze bundel "
        f"gebruikte ε = {_num(bundle.epsilon or 0.0)}; in {bundle.from_.year} is nu "
        f"ε = {_num(bundle.spent)} gebruikt.",
        f"Een cel waarvan de waarde (na de ruis) onder {MIN_CELL} ligt, wordt niet getoond: "
        f"daar staat '< {MIN_CELL}'. Ook een cel met 0 echte cliënten kan door de ruis boven "
        f"{MIN_CELL} uitkomen, en omgekeerd. Cliënten die bezwaar maakten tegen het hergebruik "
        "van hun gegevens voor statistiek (opt-out in hun portaal), zijn nergens meegeteld.",
        "Lees de cijfers dus als ordes van grootte: een verschil van enkele tientallen kan "
        "toeval zijn. Ruwe tellingen worden nergens bewaard of verstrekt.",
    ]


def _num(value: float) -> str:
    return f"{value:.2f}".replace(".", ",")


def _font_path() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


def _chart(figure: Figure) -> bytes | None:
    """A horizontal bar chart of the published cells (suppressed cells are not drawn)."""
    shown = [c for c in figure.cells if c.value is not None]
    if not shown:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{c.key.get('kwartaal', '')} {_category(c.key)}".strip() for c in shown]
    values = [c.value or 0 for c in shown]
    height = max(1.6, 0.28 * len(shown) + 0.8)
    fig, ax = plt.subplots(figsize=(6.5, height), dpi=110)
    try:
        positions = list(range(len(shown)))
        ax.barh(positions, values, color="#1f5f8b")
        ax.set_yticks(positions, labels=labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel(f"{figure.unit} (met ruis, ε = {_num(figure.epsilon)})", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
        for pos, value in zip(positions, values, strict=True):
            ax.text(value, pos, f" {value}", va="center", fontsize=7)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        plt.close(fig)


def _new_report() -> FPDF:
    from fpdf import FPDF

    class Report(FPDF):
        def footer(self) -> None:
            self.set_y(-12)
            self.set_font("DejaVu", size=8)
            self.cell(0, 8, f"Pagina {self.page_no()}", align="C")

    return Report(format="A4")


def report_pdf(bundle: BundlePublic, registry: Registry) -> bytes:
    """The bundle's report (Dutch): period, ε, method, each figure with a chart and its
    published cells, then the signals."""
    network = registry.networks.get(bundle.network)
    network_name = network.name if network is not None else bundle.network
    pdf = _new_report()
    pdf.set_title(f"Signalenbundel {network_name}")
    pdf.set_lang("nl")
    pdf.add_font("DejaVu", fname=str(_font_path()))
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    width = pdf.epw

    def heading(text: str, size: int = 13) -> None:
        pdf.set_font("DejaVu", size=size)
        pdf.multi_cell(width, 8, text, new_x="LMARGIN", new_y="NEXT")

    def para(text: str, size: int = 10) -> None:
        pdf.set_font("DejaVu", size=size)
        pdf.multi_cell(width, 5, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)

    heading(f"Signalenbundel {network_name}", 17)
    para(f"Periode: {bundle.from_.isoformat()} tot en met {bundle.to.isoformat()}. "
         f"Vrijgegeven op {(bundle.released_at or bundle.created_at).date().isoformat()}. "
         f"Privacyverlies van deze bundel: ε = {_num(bundle.epsilon or 0.0)}.")
    heading("Hoe deze cijfers tot stand komen (methode)")
    for text in method_text(bundle):
        para(text)
    heading("Cijfers")
    for figure in bundle.figures:
        heading(figure.title, 11)
        para(f"Eenheid: {figure.unit}. ε = {_num(figure.epsilon)}"
             + ("" if figure.scale is None else
                f", ruisschaal {_num(figure.scale)}, gevoeligheid {figure.sensitivity}") + ".",
             9)
        if figure.note:
            para(figure.note, 9)
            continue
        image = _chart(figure)
        if image is not None:
            pdf.image(io.BytesIO(image), w=width)
        suppressed = sum(1 for c in figure.cells if c.suppressed)
        shown = [c for c in figure.cells if c.value is not None]
        for cell in shown:
            para(f"{cell.key.get('kwartaal', '')}  {_category(cell.key)}: {cell.value}", 8)
        para(f"{suppressed} van de {len(figure.cells)} cellen tonen '< {MIN_CELL}' "
             "(onderdrukt).", 9)
    heading("Signalen")
    if not bundle.signals:
        para("Er zijn geen signalen in deze periode.")
    for signal in bundle.signals:
        heading(signal.title, 11)
        para(f"Thema: {signal.theme.replace('_', ' ')}. Trekker: {signal.owner}. "
             f"Status: {STATUS_NL.get(signal.status, signal.status)}.", 9)
        para(signal.description, 9)
        for step in signal.history:
            para(f"{step.created_at.date().isoformat()} ({step.actor}): {step.note}", 8)
    return bytes(pdf.output())


