"""Browser-test plumbing (DESIGN §2 "Quality"): Playwright for Python driving Debian's Chromium,
axe-core for WCAG 2.1 AA, and screenshots under ``test-artefacts/``.

Never ``playwright install``: the browser is Debian's (``apt-get install chromium``), started
headless with the flags this machine needs (its closed network refuses Chromium's background
connections). ``.ci/run`` installs it and sets ``REQUIRE_BROWSER=1``; locally the browser tests
skip when it is missing, like PostgreSQL (``REQUIRE_POSTGRES``) and OPA (``REQUIRE_OPA``).
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import ConsoleMessage, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
REQUIRE_BROWSER = os.environ.get("REQUIRE_BROWSER") == "1"

ASSETS = Path(__file__).parent / "assets"
AXE_VERSION = "4.14.1"  # tests/e2e/assets/axe-core/VERSION.md
AXE_JS = ASSETS / "axe-core" / "axe.min.js"
# DESIGN §2: WCAG 2.1 AA, zero violations.
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artefacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 360, "height": 740}  # DESIGN §2: "works on a 360 px wide phone screen"


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or ``None`` when they can."""
    if importlib.util.find_spec("playwright") is None:
        return "Playwright for Python is not installed (pip install -e '.[dev]')"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    return None


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Run axe-core on the page as it is now; its WCAG 2.1 A/AA violations."""
    page.add_script_tag(path=str(AXE_JS))
    found: list[dict[str, Any]] = page.evaluate(
        """async (tags) => {
            const result = await axe.run(document, {runOnly: {type: "tag", values: tags},
                                                    resultTypes: ["violations"]});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => ({target: n.target.join(" "),
                                          summary: n.failureSummary}))}));
        }""",
        WCAG_21_AA,
    )
    return found


# Runs before the page's own scripts and is not subject to its CSP: reports every violation to
# the test (through a binding that outlives navigations), in the page and in every later one.
_CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => {
    window.gboCspViolation(`${e.effectiveDirective} blocked ${e.blockedURI || "inline"} `
                           + `at ${e.sourceFile || e.documentURI}:${e.lineNumber}`);
}, true);
"""


def record_csp_violations(page: Page, into: list[str]) -> None:
    """Append to ``into`` every Content-Security-Policy violation on ``page`` from now on: the
    ``securitypolicyviolation`` events, and Chromium's console reports of them. Call it before
    the first navigation, on a page whose context does not bypass CSP."""

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            into.append(message.text)

    page.expose_binding("gboCspViolation", lambda _source, text: into.append(text))
    page.add_init_script(_CSP_LISTENER)
    page.on("console", on_console)


def describe(violations: list[dict[str, Any]]) -> str:
    """A readable report for an assertion message."""
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']}")
        lines.extend(f"    {n['target']}: {n['summary']}" for n in v["nodes"])
    return "\n".join(lines)


def scroll_width(page: Page) -> int:
    """The document's full width: more than the viewport means horizontal scrolling."""
    width: int = page.evaluate("document.documentElement.scrollWidth")
    return width


def screenshot(page: Page, name: str) -> Path:
    """A full-page screenshot under ``test-artefacts/screenshots/`` (git-ignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^a-z0-9-]+', '-', name.lower())}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
