"""Files made from a report: the report as an XLSX workbook (openpyxl), and a de-identified table of
case counts as CSV with small counts suppressed. Both are written from the same panels the pages show."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font

from core.i18n import gettext
from reports.panels import PERIOD_LABELS, PERIOD_NAMES, Panel, suppressed

__all__ = ["ReportHeading", "deidentified_csv", "report_xlsx"]


@dataclass(frozen=True)
class ReportHeading:
    unit_name: str
    period: str
    status: str  # "draft" or "version N, signed by … at …"
    exported_by: str
    exported_at: str


def report_xlsx(heading: ReportHeading, narrative: dict[str, str], panels: Iterable[Panel]) -> bytes:
    """One sheet for the report's text, one for its figures (three periods side by side)."""
    book = Workbook()
    text = book.active
    assert text is not None
    text.title = gettext("Report")
    bold = Font(bold=True)
    for label, value in (
        (gettext("Unit"), heading.unit_name),
        (gettext("Period"), heading.period),
        (gettext("Version"), heading.status),
        (gettext("Exported by"), heading.exported_by),
        (gettext("Exported at"), heading.exported_at),
    ):
        text.append([label, value])
        text.cell(row=text.max_row, column=1).font = bold
    text.append([])
    for label, value in narrative.items():
        text.append([label, value])
        text.cell(row=text.max_row, column=1).font = bold
    text.column_dimensions["A"].width = 18
    text.column_dimensions["B"].width = 100
    figures = book.create_sheet(gettext("Figures"))
    figures.append(["", "", *[gettext(PERIOD_LABELS[n]) for n in PERIOD_NAMES]])
    for panel in panels:
        figures.append([panel.title])
        figures.cell(row=figures.max_row, column=1).font = bold
        for row in panel.rows:
            figures.append(["", row.label, *row.values])
    figures.column_dimensions["A"].width = 24
    figures.column_dimensions["B"].width = 36
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def deidentified_csv(header: list[str], rows: Iterable[tuple[Any, ...]]) -> str:
    """Counts per group, with 1–4 written "<5"; the last value of each row is the count."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        *keys, count = row
        writer.writerow([*keys, suppressed(int(count))])
    return out.getvalue()
