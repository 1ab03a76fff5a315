"""
What every browser test shares beyond the fixtures in conftest.py: the README's screenshots
and the accessibility check (axe-core from npm, run against the stock Django admin as the
baseline the issue asks us to meet).
"""

import json
from pathlib import Path

from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "docs" / "screenshots"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2 A and AA: contrast, names of controls and links, form labels, landmarks.
AXE_TAGS = ["wcag2a", "wcag2aa"]


def readme_screenshot(page: Page, name: str) -> Path:
    """
    Save the page as docs/screenshots/<name>.png, the picture the README's tour shows.
    Taken by the tests on every run, so the tour never shows a console that no longer exists.
    The picture starts at the page's title, and the admin's navigation sidebar is folded away
    for it (the page, not the menu, is the subject at 1280 pixels) through its own toggle, and
    opened again: the admin keeps the
    choice in localStorage, which the browser profile shares with every later test. The
    toggle is clicked by script so the page's focus and scroll stay where the test left them.
    """
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    fold = page.locator("#nav-sidebar[aria-expanded=true]").count() > 0
    toggle = "document.getElementById('toggle-nav-sidebar').click()"
    scrolled = page.evaluate("window.scrollY")
    if fold:
        page.evaluate(toggle)
    page.evaluate("window.scrollTo(0, 0)")  # a picture of the page starts at its title
    try:
        page.screenshot(path=str(path), full_page=False)
    finally:
        if fold:
            page.evaluate(toggle)
        page.evaluate("y => window.scrollTo(0, y)", scrolled)
    return path


def axe_violations(page: Page) -> dict[str, list[str]]:
    """
    Rule id -> CSS targets of the nodes axe-core finds failing WCAG 2 A/AA on the current page.
    The script goes in through the DevTools protocol (page.evaluate), which the site's CSP
    does not govern, so the page is checked under its real policy.
    """
    if not AXE.exists():
        raise RuntimeError(f"{AXE} is missing: run scripts/build_js.sh (npm ci)")
    page.evaluate(AXE.read_text() + "\n;0")
    results = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})"
        ".then(r => JSON.stringify(r.violations.map("
        "v => [v.id, v.nodes.map(n => n.target.join(' '))])))",
        AXE_TAGS,
    )
    return dict(json.loads(results))


def assert_accessible_as_the_django_admin(page: Page, baseline_url: str) -> None:
    """
    The page meets the contrast and labelling the stock Django admin meets: no axe-core
    violation of a rule that the admin's own page (`baseline_url`, e.g. the users changelist)
    passes. Rules the stock admin itself fails are reported by axe there too, and are not ours
    to fix in its templates.
    """
    ours = axe_violations(page)
    here = page.url
    page.goto(baseline_url)
    baseline = axe_violations(page)
    page.goto(here)
    beyond = {rule: targets for rule, targets in ours.items() if rule not in baseline}
    assert not beyond, f"accessibility violations the Django admin does not have: {beyond}"


def tab_to(page: Page, selector: str, limit: int = 200, *, backwards: bool = False) -> None:
    """
    Press Tab (Shift+Tab with `backwards`, for an element before the focused one) until the
    element matching `selector` has focus, as a keyboard user reaches it; fail if it never
    does (unreachable by keyboard) within `limit` presses.
    """
    target = page.locator(selector).first
    target.wait_for()
    key = "Shift+Tab" if backwards else "Tab"
    for _ in range(limit):
        if target.evaluate("el => el === document.activeElement"):
            return
        page.keyboard.press(key)
    raise AssertionError(f"{selector} is not reachable with Tab ({limit} presses)")
