"""The review UI and the report in a real browser: Debian's headless chromium
driven by Playwright (no browser download). A person opens the UI, sees the
pending review, types a comment and clicks Approve; the run finishes and the
page follows it live. Then the report of that run, opened from a file:// URL,
is checked on screen (a screenshot), on a phone-sized screen and in print.

TISS_SCREENSHOTS=DIR also keeps the two screenshots there (docs/images/ for
the README)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.runtime.uiserver import TISS, UI, kill_started, start_run

PLAN = '''\
TASK "Release the site" {
    SET_BUDGET RUN_COUNT = 5
    STEP "Build" {
        RUN "echo '<script>window.pwned = 1</script><img src=x onerror=\\"window.pwned = 2\\">'; echo built" AS build
        ASSERT build.EXIT_CODE == 0
    }
    STEP "Test" {
        RUN "echo 12 passed" AS tests
        ASSERT tests.STDOUT CONTAINS "passed"
    }
    STEP "Publish" {
        REQUEST_REVIEW "Publish the build to the site?"
        WRITE "published.txt" "{{LAST_REVIEW.COMMENT}}"
    }
}
'''
WAIT_MS = 30_000


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        message = "Debian's chromium is not installed (apt-get install chromium; .ci/run does)"
        if os.environ.get("TISS_REQUIRE_BACKENDS") == "1":
            pytest.fail(message + " (TISS_REQUIRE_BACKENDS=1 makes this a failure)", pytrace=False)
        pytest.skip(message)
    return path


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright
    executable = chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def workspace(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "plan.tiss").write_text(PLAN)
    yield ws
    kill_started()


def keep(screenshot: bytes, name: str) -> None:
    folder = os.environ.get("TISS_SCREENSHOTS")
    if folder:
        with open(os.path.join(folder, name), "wb") as out:
            out.write(screenshot)


def colour_share(png: bytes, rgb: tuple[int, int, int]) -> float:
    """The share of the picture's pixels that are (about) this colour."""
    import io

    import matplotlib.image
    import numpy as np
    pixels = (matplotlib.image.imread(io.BytesIO(png), format="png")[..., :3] * 255).astype(int)
    return float((np.abs(pixels - np.array(rgb)).sum(axis=-1) < 30).mean())


def test_a_reviewer_approves_in_the_browser_and_the_run_finishes(browser, workspace):
    from playwright.sync_api import expect
    ui = UI(workspace)
    try:
        process, run_id = start_run(workspace)
        page = browser.new_page(viewport={"width": 1000, "height": 900})
        page.goto(ui.url)
        page.get_by_role("link", name=run_id).click()
        review = page.locator("section.review")
        expect(review).to_contain_text("Publish the build to the site?", timeout=WAIT_MS)
        expect(page.locator("#status")).to_have_text("running")
        page.locator("textarea[name=comment]").fill("ship it <b>now</b>")
        keep(page.screenshot(full_page=True), "review.png")
        page.get_by_role("button", name="Approve").click()
        process.communicate(timeout=60)
        assert process.returncode == 0
        assert (workspace / "published.txt").read_text() == "ship it <b>now</b>"
        expect(page.locator("#status")).to_have_text("succeeded", timeout=WAIT_MS)   # followed live
        expect(page.locator("section.review")).to_have_count(0)
        expect(page.locator(".review-entry")).to_contain_text("approve: ship it <b>now</b>")
        assert page.evaluate("window.pwned") is None   # the plan's output stayed text
    finally:
        ui.close()

    report = workspace / "report.html"
    subprocess.run([*TISS, "report", run_id, "-o", str(report)], cwd=workspace, check=True, timeout=60)
    page = browser.new_page(viewport={"width": 1000, "height": 900})
    page.goto(report.as_uri())
    expect(page.locator("#task")).to_have_text("Release the site")
    expect(page.locator("#status")).to_have_text("succeeded")
    expect(page.locator("#timeline .bar")).to_have_count(3)
    expect(page.locator("#budgets")).to_contain_text("RUN_COUNT")
    expect(page.locator(".entry.run code").first).to_contain_text("<script>window.pwned = 1</script>")
    assert page.evaluate("window.pwned") is None
    shot = page.screenshot(full_page=True)
    keep(shot, "report.png")
    badge = page.locator("#status").bounding_box()
    assert badge["width"] > 20 and badge["height"] > 10
    assert colour_share(shot, (0x1A, 0x7F, 0x37)) > 0.001   # the green of "succeeded" is on screen

    # a phone-sized screen: nothing wider than the screen
    phone = browser.new_page(viewport={"width": 375, "height": 700})
    phone.goto(report.as_uri())
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375
    # printed: folded output is printed too
    phone.emulate_media(media="print")
    assert phone.locator(".entry.run pre").first.is_visible()
