"""The rendered book and the .ipynb export: built with the course's own commands, then opened in headless chromium.

The book is built in CI mode (`--fast`: the same pages with CI-sized outputs, ~3 minutes) into a temporary
folder and served on 127.0.0.1; every page must load, every notebook page must show its figures, the
animations and the frame slider's static film strip must be on the page, solutions must be folded, and
every link inside the book must point at a file that exists. `python3 course.py book` builds the same book
in learner mode.
"""
from __future__ import annotations

import functools
import http.server
import importlib.util
import re
import threading
import urllib.parse
from pathlib import Path

import jupytext
import pytest

from test_browser import chromium  # noqa: F401  (the headless-chromium fixture)

pytestmark = [pytest.mark.browser, pytest.mark.book]

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))


def build_script():
    spec = importlib.util.spec_from_file_location("build_book", ROOT / "scripts" / "build_book.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    """The built book's html folder, served on a free local port: (folder, base URL)."""
    out = tmp_path_factory.mktemp("book")
    html = build_script().build_book(out, fast=True)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield html, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_the_book_has_a_page_per_notebook_and_every_internal_link_resolves(book):
    html, _ = book
    pages = sorted(p for p in html.rglob("*.html") if "_static" not in p.parts)  # theme templates aside
    assert {p.stem for p in (html / "notebooks").glob("*.html")} == {p.stem for p in NOTEBOOKS}
    broken = []
    for page in pages:
        for link in re.findall(r'(?:href|src)="([^"]+)"', page.read_text()):
            if re.match(r"^(https?:|mailto:|data:|#|javascript:)", link):
                continue
            target = (page.parent / urllib.parse.unquote(link.split("#")[0].split("?")[0])).resolve()
            if not target.exists():
                broken.append(f"{page.relative_to(html)} -> {link}")
    assert not broken, "broken links in the book:\n" + "\n".join(broken[:20])


def test_every_page_loads_in_chromium_with_its_figures_animations_and_folded_solutions(book, chromium, tmp_path):
    html, base = book
    page = chromium.new_page(viewport={"width": 1300, "height": 900})
    failed = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    response = page.goto(f"{base}/intro.html")
    assert response.ok and "minivid" in page.title()
    for notebook in NOTEBOOKS:
        response = page.goto(f"{base}/notebooks/{notebook.stem}.html")
        assert response.ok, notebook.name
        page.wait_for_load_state("load")
        title = jupytext.read(notebook).cells[0].source.splitlines()[0].lstrip("# ").split("—")[0].strip()
        assert title in page.inner_text("h1"), (notebook.name, page.inner_text("h1"))
        figures = page.query_selector_all(".cell_output img")
        loaded = [img.evaluate("i => i.complete && i.naturalWidth > 0") for img in figures]
        assert figures and all(loaded), f"{notebook.name}: {len(figures)} figures, loaded {loaded}"
        solutions = page.query_selector_all(".tag_solution")
        if solutions:  # folded: their source is behind a "Show code cell source" toggle
            assert all(s.query_selector("details, .toggle-hidden, button") for s in solutions), notebook.name
        if notebook.name == "00_tour.py":
            assert page.query_selector(".minivid-scrubber-static img"), "no static film strip of the scrubber"
            assert page.query_selector(".animation, img[id^='_anim_img']"), "no animation on the tour page"
            page.screenshot(path=str(tmp_path / "book_00_tour.png"), full_page=False)
    assert not failed, f"requests that failed: {failed[:10]}"


def test_ipynb_export_writes_every_notebook(tmp_path):
    written = build_script().export_ipynb(tmp_path)
    assert [p.stem for p in written] == [p.stem for p in NOTEBOOKS]
    for path in written:
        nb = jupytext.read(path)
        assert nb.cells and nb.metadata["kernelspec"]["name"] == "python3"
        hidden = [c for c in nb.cells if "solution" in c.metadata.get("tags", [])]
        assert all(c.metadata["jupyter"]["source_hidden"] for c in hidden)
