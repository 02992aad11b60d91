"""The report: the executed report notebook, as self-contained HTML and as an A4 PDF.

Both formats come from the same HTML: the notebook's outputs, in order (no code, no prompts,
and none of a notebook page's wrappers around each cell and output, which only add boxes for
WeasyPrint to lay out; Markdown outputs through nbconvert's own Markdown renderer), a template
that adds the table of contents (after page 1, when the notebook marks its end) and the print styles, and WeasyPrint, which lays the same page
out on A4 with page numbers.

The HTML file is written as soon as the page exists; the PDF is laid out from the same page
string, so neither format waits on the other for anything but the page. :func:`prepare` imports
the Markdown renderer and WeasyPrint and compiles the template ahead of time: the runner calls it while the kernel
starts, so that the report step pays only for rendering this run's page.
"""
from __future__ import annotations

import functools
import html
import re
from pathlib import Path

from helpers import config

# CONSORT 2025 item 1a: the title identifies the study as a randomised trial.
TITLE = "Secondary reassurance contact for hate crime victims: evaluation of a randomised controlled trial"
# Where the report's page 1 ends: the contents list goes after it, and print starts a new page there.
PAGE_ONE_END = '<div class="page-one-end"></div>'
_HEADING = re.compile(r'<h2 id="([^"]+)">(.*?)</h2>', re.S)
# Control characters other than tab and line breaks are not allowed in HTML (a NUL byte can end a string
# for a program that reads the file): written as the replacement character, never raw.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@functools.cache
def _template():
    import jinja2

    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(config.TEMPLATES_DIR), autoescape=False)
    return environment.get_template("report.html.j2")


def prepare() -> None:
    """Import the Markdown renderer and WeasyPrint and compile the template now, not when the first
    report is written.

    Errors are left for the report step to raise with its own message (WeasyPrint without Pango
    raises OSError on import).
    """
    try:
        from nbconvert.filters.markdown_mistune import markdown2html_mistune

        markdown2html_mistune("*warm*")
        _template()
        import weasyprint  # noqa: F401
    except Exception:
        pass


def notebook_to_html(notebook_path: Path, *, subtitle: str = "", title: str = TITLE) -> str:
    """Render an executed notebook's outputs (no code, no prompts, no markdown cells) as one HTML page."""
    import nbformat

    # The report is the notebook's outputs; its markdown cells address whoever runs the notebook.
    return body_to_html(outputs_html(nbformat.read(notebook_path, as_version=4)), subtitle=subtitle, title=title)


def body_to_html(body: str, *, subtitle: str = "", title: str = TITLE) -> str:
    """The report's sections, as HTML, laid out as one page: page 1, the contents list, the rest."""
    toc = [(anchor, _strip_tags(text)) for anchor, text in _HEADING.findall(body)]
    page_one, _, rest = body.partition(PAGE_ONE_END) if PAGE_ONE_END in body else ("", "", body)
    page = _template().render(title=html.escape(title), subtitle=html.escape(subtitle), toc=toc,
                              page_one=page_one + (PAGE_ONE_END if page_one else ""), body=rest)
    return _CONTROL.sub("\ufffd", page)


def outputs_html(notebook) -> str:
    """The code cells' outputs as HTML, in order: HTML as it is, Markdown rendered, printed text as
    preformatted text. Warnings that libraries print (stderr) are not part of the report."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if output.output_type == "stream" and output.get("name") == "stdout":
                parts.append(f"<pre>{html.escape(_text(output.text))}</pre>")
            elif output.output_type in ("display_data", "execute_result"):
                data = output.get("data", {})
                if "text/html" in data:
                    parts.append(_text(data["text/html"]))
                elif "text/markdown" in data:
                    parts.append(markdown2html_mistune(_text(data["text/markdown"])))
                elif "text/plain" in data:
                    parts.append(f"<pre>{html.escape(_text(data['text/plain']))}</pre>")
    return "\n".join(parts)


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else value


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
