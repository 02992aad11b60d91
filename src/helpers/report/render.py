"""The report: the executed report notebook, as self-contained HTML and as an A4 PDF.

Both formats come from the same HTML: nbconvert renders the notebook's outputs (code hidden,
images embedded), a template adds the table of contents and print styles, and WeasyPrint
lays the same page out on A4 with page numbers.

The HTML file is written as soon as the page exists; the PDF is laid out from the same page
string, so neither format waits on the other for anything but the page. :func:`prepare` builds
the exporter and compiles the templates ahead of time: the runner calls it while the kernel
starts, so that the report step pays only for rendering this run's page.
"""
from __future__ import annotations

import functools
import html
import re
from pathlib import Path

from helpers import config

TITLE = "Secondary reassurance contact for hate crime victims: trial evaluation"
_HEADING = re.compile(r'<h2 id="([^"]+)">(.*?)</h2>', re.S)
# Control characters other than tab and line breaks are not allowed in HTML (a NUL byte can end a string
# for a program that reads the file): written as the replacement character, never raw.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@functools.cache
def _exporter():
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name="basic", exclude_input=True, exclude_input_prompt=True,
                        exclude_output_prompt=True, exclude_anchor_links=True, embed_images=True)


@functools.cache
def _template():
    import jinja2

    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(config.TEMPLATES_DIR), autoescape=False)
    return environment.get_template("report.html.j2")


def prepare() -> None:
    """Import nbconvert and WeasyPrint and compile the templates now, not when the first report is written.

    Errors are left for the report step to raise with its own message (WeasyPrint without Pango
    raises OSError on import).
    """
    import nbformat

    try:
        _exporter().from_notebook_node(nbformat.v4.new_notebook())  # compiles nbconvert's templates
        _template()
        import weasyprint  # noqa: F401
    except Exception:
        pass


def notebook_to_html(notebook_path: Path, *, subtitle: str = "", title: str = TITLE) -> str:
    """Render an executed notebook's outputs and markdown (no code, no prompts) as one HTML page."""
    import nbformat

    notebook = nbformat.read(notebook_path, as_version=4)
    # The report is the notebook's outputs; its markdown cells address whoever runs the notebook.
    notebook.cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    for cell in notebook.cells:
        if cell.cell_type == "code":  # warnings printed by libraries are not part of the report
            cell.outputs = [o for o in cell.outputs if not (o.output_type == "stream" and o.get("name") == "stderr")]
    body, _ = _exporter().from_notebook_node(notebook)
    toc = [(anchor, _strip_tags(text)) for anchor, text in _HEADING.findall(body)]
    page = _template().render(title=html.escape(title), subtitle=html.escape(subtitle), toc=toc, body=body)
    return _CONTROL.sub("\ufffd", page)


def _strip_tags(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", text)).strip()


def html_to_pdf(page: str, pdf_path: Path) -> Path:
    """Lay the report's HTML out on A4 pages (WeasyPrint; needs the Pango system library)."""
    from weasyprint import HTML  # imported here: only the PDF step needs Pango

    # Tagged PDF: a structure tree, so screen readers get headings, tables and the figures' alt text.
    HTML(string=page, base_url=str(config.PROJ_ROOT)).write_pdf(pdf_path, pdf_tags=True)
    return pdf_path


def render_report(notebook_path: Path, html_path: Path, pdf_path: Path, *, subtitle: str = "",
                  title: str = TITLE) -> None:
    """Write report.html and report.pdf (or another report's pair) from the executed report notebook."""
    page = notebook_to_html(notebook_path, subtitle=subtitle, title=title)
    html_path.write_text(page, encoding="utf-8")
    html_to_pdf(page, pdf_path)
