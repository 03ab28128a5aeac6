"""The built documentation site, in a real headless browser (Debian's Chromium through
Playwright), served on 127.0.0.1 with every request that is not local refused.

Build the site first, then run this file (``.ci/run`` does both)::

    python -m sphinx -b html -W --keep-going docs docs/_build/html
    python -m pytest -q -m site tests/test_site.py

These tests are marked ``site`` and left out of a plain ``python -m pytest`` (see
``pyproject.toml``), which does not build the site. Asked for, they never skip: a missing
site or a missing Chromium is a failure. Screenshots at a desktop and a phone width are
written to ``docs/_build/screenshots/`` (or ``$MINIREG_SITE_SCREENSHOTS``).
"""
import functools
import http.server
import os
import shutil
import threading
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlparse

import pytest

CHECKOUT = Path(__file__).resolve().parents[1]
SITE = CHECKOUT / "docs" / "_build" / "html"
SCREENSHOTS = Path(os.environ.get("MINIREG_SITE_SCREENSHOTS", CHECKOUT / "docs" / "_build" / "screenshots"))
EXAMPLES = sorted(path.stem for path in (CHECKOUT / "examples").glob("plot_*.py"))
DESKTOP, PHONE = {"width": 1280, "height": 800}, {"width": 390, "height": 844}

pytestmark = pytest.mark.site


def chromium_path():
    """Debian's Chromium (``apt-get install chromium``), or ``$CHROMIUM``."""
    for candidate in (os.environ.get("CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.fail("Chromium is not installed: apt-get install -y chromium (or set CHROMIUM to its path)",
                pytrace=False)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    """The site on http://127.0.0.1:<free port>/, for this module."""
    if not (SITE / "index.html").is_file():
        pytest.fail(f"the site is not built: run `python -m sphinx -b html -W --keep-going docs {SITE}`",
                    pytrace=False)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                            functools.partial(QuietHandler, directory=str(SITE)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


class Browser:
    """A Chromium page that refuses (and records) every request not to 127.0.0.1 and
    records script errors, console errors and failed requests."""

    def __init__(self, playwright, viewport):
        self.browser = playwright.chromium.launch(executable_path=chromium_path(),
                                                  args=["--disable-background-networking", "--no-sandbox"])
        self.context = self.browser.new_context(viewport=viewport)
        self.refused, self.errors, self.failed = [], [], []
        self.context.route("**/*", self._only_local)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda error: self.errors.append(f"{self.page.url}: {error}"))
        self.page.on("console", lambda message: message.type == "error" and self.errors.append(
            f"{self.page.url}: console: {message.text}"))
        # A request cut short because the test moved on to the next page is not a failure.
        self.page.on("requestfailed", lambda request: "ERR_ABORTED" not in (request.failure or "") and
                     self.failed.append(f"{request.url} ({request.failure})"))
        self.page.on("response", lambda response: response.status >= 400 and self.failed.append(
            f"{response.url} ({response.status})"))

    def _only_local(self, route):
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            self.refused.append(route.request.url)
            route.abort("blockedbyclient")

    def close(self):
        self.context.close()
        self.browser.close()


@pytest.fixture(scope="module")
def playwright():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def desktop(playwright):
    browser = Browser(playwright, DESKTOP)
    yield browser
    browser.close()


def site_pages(server, browser):
    """Every HTML page reachable by links from the index, each opened once:
    ``{url: http status}``, and the images that did not load, ``[(page, image)]``."""
    statuses, broken_images, queue = {}, [], [server + "index.html"]
    while queue:
        url = queue.pop()
        if url in statuses:
            continue
        response = browser.page.goto(url, wait_until="load")
        statuses[url] = response.status
        broken_images += [(url, src) for src in browser.page.eval_on_selector_all(
            "img", "images => images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")]
        links = browser.page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
        for link in links:
            link = urldefrag(urljoin(url, link))[0]
            if link.startswith(server) and link.endswith(".html") and link not in statuses:
                queue.append(link)
    return statuses, broken_images


def test_every_page_answers_without_script_errors_and_every_image_loads(server, desktop):
    statuses, broken_images = site_pages(server, desktop)
    pages = {urlparse(url).path.lstrip("/") for url in statuses}
    assert {"index.html", "catalog.html", "api.html", "auto_examples/index.html",
            "api/minireg.training.callbacks.html", "api/minireg.regularizers.proximal.html"} <= pages
    assert {f"auto_examples/{name}.html" for name in EXAMPLES} <= pages
    assert len(pages) > 60
    assert [url for url, status in statuses.items() if status != 200] == []
    desktop.page.wait_for_timeout(200)
    assert desktop.errors == []
    assert desktop.failed == []
    assert desktop.refused == []
    assert broken_images == []


def test_each_gallery_page_shows_its_figure_and_offers_py_and_ipynb(server, desktop):
    for name in EXAMPLES:
        desktop.page.goto(f"{server}auto_examples/{name}.html")
        assert desktop.page.locator("img.sphx-glr-single-img, img.sphx-glr-multi-img").count() >= 1, name
        downloads = desktop.page.eval_on_selector_all(".sphx-glr-download a[href]", "links => links.map(a => a.href)")
        for suffix in (".py", ".ipynb"):
            [link] = [link for link in downloads if link.endswith(name + suffix)]
            assert desktop.context.request.get(link).status == 200, link
    assert desktop.errors == desktop.failed == desktop.refused == []


def test_the_search_finds_prox_owl(server, desktop):
    desktop.page.goto(f"{server}search.html?q=prox_owl")
    desktop.page.wait_for_selector("#search-results li a", timeout=20_000)
    results = desktop.page.eval_on_selector_all("#search-results li a", "links => links.map(a => a.textContent)")
    assert any("prox_owl" in result for result in results), results
    assert desktop.errors == desktop.refused == []


def test_the_api_page_of_early_stopping_shows_its_parameters_and_links_back_to_examples(server, desktop):
    desktop.page.goto(f"{server}api/minireg.training.callbacks.html")
    entry = desktop.page.locator("dl.py.class:has(> dt#minireg\\.training\\.callbacks\\.EarlyStopping)")
    fields = entry.locator("> dd > dl.field-list")
    assert fields.locator("> dt").first.text_content().startswith("Parameters")
    names = fields.locator("> dd").first.locator("> dl > dt > strong")
    assert names.all_text_contents() == ["monitor", "patience", "restore_best", "stop"]
    assert all(name.is_visible() for name in names.all())
    desktop.page.goto(f"{server}api/minireg.regularizers.constraints.html")
    assert desktop.page.locator("a[href*='plot_max_norm.html']").count() >= 1   # backreference to the example


def test_math_is_typeset_by_the_local_mathjax(server, desktop):
    desktop.page.goto(f"{server}api/minireg.training.callbacks.html")
    desktop.page.wait_for_selector(".MathJax_CHTML", timeout=20_000)
    sources = desktop.page.eval_on_selector_all("script[src*='MathJax']", "s => s.map(x => x.src)")
    assert sources and all(source.startswith(server) for source in sources)
    assert desktop.errors == desktop.failed == desktop.refused == []


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
@pytest.mark.parametrize("page", ["index.html", "api/minireg.training.callbacks.html",
                                  "auto_examples/plot_max_norm.html"])
def test_screenshots_show_the_page_and_no_bar_swallows_it(server, playwright, viewport, page):
    browser = Browser(playwright, viewport)
    try:
        browser.page.goto(server + page, wait_until="load")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        width = "desktop" if viewport is DESKTOP else "phone"
        browser.page.screenshot(path=SCREENSHOTS / f"{page.replace('/', '_')[:-5]}-{width}.png")
        # The middle of the screen is the page's text, not a header, menu or sidebar over it,
        # and every bar fixed to the screen together covers at most a fifth of it.
        inside_article = browser.page.evaluate(
            "() => { const e = document.elementFromPoint(innerWidth / 2, innerHeight / 2);"
            " return !!(e && e.closest('article')); }")
        assert inside_article
        fixed_height = browser.page.evaluate(
            "() => [...document.querySelectorAll('body *')].filter(e => {"
            " const s = getComputedStyle(e); return (s.position === 'fixed' || s.position === 'sticky')"
            " && s.visibility !== 'hidden' && s.display !== 'none'; })"
            ".map(e => e.getBoundingClientRect())"
            ".filter(r => r.width > innerWidth / 2 && r.bottom > 0 && r.top < innerHeight && r.right > 0"
            " && r.left < innerWidth)"
            ".reduce((sum, r) => sum + Math.min(r.bottom, innerHeight) - Math.max(r.top, 0), 0)")
        assert fixed_height <= viewport["height"] / 5, fixed_height
        article = browser.page.locator("article").first.bounding_box()
        assert article["width"] >= viewport["width"] * (0.5 if viewport is DESKTOP else 0.85)
        assert browser.errors == browser.refused == []
    finally:
        browser.close()
