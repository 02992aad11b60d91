"""The report as a list of section templates, one list per audience.

Each section is a Jinja template, ``templates/sections/<name>.html.j2``, that holds every word of the
section; :mod:`helpers.report.view` gives it the numbers, the tables (DataFrames, rendered here by
:func:`helpers.report.tables.table_html` with their column widths) and the branch decisions, all
from results.json. The leadership report is another list of sections, not the same sections with
parts switched off.

:class:`Report` renders the sections of one run in order, numbering the tables and figures across
them; the report notebook displays each section's HTML, and :mod:`helpers.report.render` turns the
executed notebook into report.html and report.pdf.
"""
from __future__ import annotations

import functools
import html
import re
from pathlib import Path

import jinja2
import pandas as pd
from markupsafe import Markup

from helpers import config
from helpers.report import view
from helpers.report.figures import narrow_path
from helpers.report.findings import drawn
from helpers.report.tables import data_uri, table_html

__all__ = ["SECTIONS", "Report"]

SECTIONS = {
    "full": ["decision_page", "abstract", "summary", "emmie", "warnings", "changes", "flow", "audit", "compliance",
             "effects", "harms", "extrapolation", "limitations", "appendix", "consort", "references"],
    "leadership": ["leadership_decision_page", "leadership_figure", "leadership_summary", "leadership_limitations",
                   "leadership_pointer"],
}


@functools.cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(config.TEMPLATES_DIR / "sections"),
                                     autoescape=True, trim_blocks=True, lstrip_blocks=True,
                                     undefined=jinja2.StrictUndefined, extensions=["jinja2.ext.do"])
    environment.filters.update(md=_markdown, squash=lambda text: " ".join(str(text).split()))
    return environment


# A link or image address that runs code: text from the input files may be written in Markdown's link syntax.
_UNSAFE_ADDRESS = re.compile(r'\b(href|src)="\s*(?:javascript|vbscript|data|file):[^"]*"', re.IGNORECASE)


def _markdown(text: str) -> Markup:
    """Markdown prose of a template as HTML, by the renderer the report uses for Markdown (nbconvert's), with no
    link that runs code."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    return Markup(_UNSAFE_ADDRESS.sub(r'\1="#"', markdown2html_mistune(str(text))))


class Report:
    """One run's report: renders its sections in order, numbering tables and figures across them.

    ``output_dir`` is the run's output folder (its ``figures/`` hold the saved charts);
    ``previous_results``, the results.json of the last run into the folder, if any; ``parameters_file``,
    the run's parameters file, named on page 1.
    """

    def __init__(self, results: dict, output_dir: Path, *, audience: str = "full",
                 previous_results: Path | str | None = None, parameters_file: Path | str | None = None):
        if audience not in SECTIONS:
            raise ValueError(f"audience must be one of {', '.join(SECTIONS)}, not {audience!r}")
        self.results, self.audience = results, audience
        self.files = config.StageFiles(output_dir, Path(output_dir))  # the figures: files.figure(name)
        self.previous_results, self.parameters_file = previous_results, parameters_file
        self._tables = 0
        self._figures: list[str] = []

    @property
    def sections(self) -> list[str]:
        return SECTIONS[self.audience]

    def render(self, name: str) -> str:
        """One section's HTML ('' when the section does not apply to this run)."""
        context = view.context(name, self)
        if context is None:
            return ""
        text = _environment().get_template(f"{name}.html.j2").render(**context, page=self)
        return "\n".join(line for line in text.split("\n") if line.strip())

    def render_all(self) -> list[str]:
        return [part for part in (self.render(name) for name in self.sections) if part]

    # What templates call to place a table, a figure or a list.
    def table(self, frame: pd.DataFrame, caption: str | None = None, empty: str | None = None) -> Markup:
        """A table numbered when it has a caption. A table with no rows is replaced by one line: ``empty``, which
        says why, or else that the table has nothing to show on these data."""
        if frame.empty:
            why = empty or f"{caption or 'This table'}: none on these data."
            return Markup(f'<p class="empty">{html.escape(why)}</p>')
        if caption:
            self._tables += 1
        return Markup(table_html(frame, f"Table {self._tables}. {caption}" if caption else None))

    def next_table(self) -> int:
        """The number of a table a section lays out itself (the CONSORT checklist, whose cells hold links)."""
        self._tables += 1
        return self._tables

    def has_figure(self, name: str) -> bool:
        """Whether the figure is shown: drawn by the run, with something to show on these data."""
        return self.figure_path(name).is_file() and drawn(name, self.results)

    def figure_path(self, name: str) -> Path:
        return self.files.figure(name)

    def figure(self, name: str, caption: str) -> Markup:
        """A saved figure, numbered, with its caption (a finding) as its alternative text. A figure with nothing to
        show on these data is replaced by its finding, which says why, in one line; a figure the run did not draw
        at all (an optional column missing) is listed among the skipped analyses."""
        if not drawn(name, self.results):
            return Markup(f'<p class="empty">{html.escape(caption)}.</p>')
        path = self.figure_path(name)
        if not path.is_file():
            return Markup("")
        if name not in self._figures:
            self._figures.append(name)
        number = self._figures.index(name) + 1
        narrow = narrow_path(path)
        source = f'<source media="(max-width: 700px)" srcset="{data_uri(narrow)}">' if narrow.is_file() else ""
        caption = html.escape(caption)
        return Markup(f'<figure><picture>{source}<img alt="{caption}." src="{data_uri(path)}"></picture>'
                      f"<figcaption>Figure {number}. {caption}.</figcaption></figure>")
