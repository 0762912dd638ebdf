"""A real headless Chromium driven by Playwright, for the web inbox's tests.

Debian's `chromium` (/usr/bin/chromium) is launched through Playwright's `executable_path`:
Playwright's own browser download is never used. Without Chromium or Playwright the tests skip
with the reason (and fail in CI, where scripts/test installs both).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

from tests.support.skips import skip_or_fail

CHROMIUM = os.environ.get("SIGNOFF_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium() -> Iterator[Any]:
    """A launched browser (Playwright's `Browser`), closed at the end."""
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        skip_or_fail(f"no Chromium at {CHROMIUM}: apt-get install chromium (or set SIGNOFF_TEST_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("playwright is not installed: pip install -e '.[test]'")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
