"""Debian's Chromium for the browser tests (Playwright): a test that needs it skips where it is missing."""

import pytest

CHROMIUM = "/usr/bin/chromium"


def launch_chromium(playwright):
    """A headless Chromium from playwright.sync_api.sync_playwright(), or pytest.skip when there is none."""
    try:
        return playwright.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
    except Exception as error:  # no chromium installed here
        pytest.skip(f"chromium is not available: {error}")
