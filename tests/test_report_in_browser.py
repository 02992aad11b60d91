"""The report as a reader gets it: opened in a real browser (headless Chromium) and laid out as a PDF.

Uses the committed report notebook (the reference run's outputs), so no pipeline run is needed.
Chromium is Debian's package, driven by Playwright with the system browser; `.ci/run` installs it.
A machine without it skips these tests with the reason, never passes them silently.
"""
from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ElementTree

import pytest

from helpers import config
from helpers.report.render import html_to_pdf, notebook_to_html

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def report_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    page = notebook_to_html(config.NOTEBOOKS_DIR / "06_report.ipynb", subtitle="Inputs: the shipped synthetic extract")
    html_path = folder / "report.html"
    html_path.write_text(page, encoding="utf-8")
    return html_path, html_to_pdf(page, folder / "report.pdf")


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


@pytest.mark.parametrize("width", [1280, 400])
def test_report_opens_cleanly_at_desktop_and_phone_widths(browser, report_files, width):
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(report_files[0].as_uri())
    assert errors == []
    images = page.eval_on_selector_all("img", "els => els.map(e => [e.complete && e.naturalWidth > 0, e.alt])")
    assert len(images) >= 5 and all(loaded and alt for loaded, alt in images)
    overflow = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow} px at {width} px"
    page.close()


def test_every_contents_link_lands_on_its_section(browser, report_files):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(report_files[0].as_uri())
    targets = page.eval_on_selector_all("nav.toc a", "els => els.map(e => e.getAttribute('href').slice(1))")
    assert len(targets) >= 8
    for target in targets:
        page.click(f"nav.toc a[href='#{target}']")
        top = page.evaluate(f"document.getElementById('{target}').getBoundingClientRect().top")
        assert abs(top) < 5 or page.evaluate("window.scrollY + window.innerHeight >= document.body.scrollHeight - 2"), target
    page.close()


def test_no_word_of_the_pdf_lies_outside_its_page(report_files):
    if shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils is not installed (apt-get install poppler-utils)")
    bbox = subprocess.run(["pdftotext", "-bbox", str(report_files[1]), "-"], capture_output=True, text=True,
                          check=True).stdout
    namespace = {"x": "http://www.w3.org/1999/xhtml"}
    root = ElementTree.fromstring(bbox)
    pages = root.findall(".//x:page", namespace)
    assert pages
    outside = []
    for number, page in enumerate(pages, start=1):
        width, height = float(page.get("width")), float(page.get("height"))
        for word in page.findall("x:word", namespace):
            box = [float(word.get(k)) for k in ("xMin", "yMin", "xMax", "yMax")]
            if box[0] < 0 or box[1] < 0 or box[2] > width + 0.5 or box[3] > height + 0.5:
                outside.append((number, word.text))
    assert outside == []


def test_the_pdf_is_tagged(report_files):
    from pypdf import PdfReader
    catalog = PdfReader(report_files[1]).trailer["/Root"]
    assert "/StructTreeRoot" in catalog and catalog["/MarkInfo"]["/Marked"]
