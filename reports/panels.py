"""What the dashboard, the report page and the exports show: the figures of three periods turned into
labelled rows (this period, the one before, a year before) and a chart of the same rows. One place, so
a chart's table and the XLSX sheet say the same numbers the figures computed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from core.i18n import N_, gettext
from core.vocabulary import label
from hotline.case_terms import AGENCY_KINDS, SATISFACTION
from hotline.page_helpers import label_of
from reports.charts import Series, bar_chart, line_chart

__all__ = ["PERIOD_NAMES", "Panel", "Row", "build_panels", "suppressed"]

Value = float | int | None
PERIOD_NAMES = ("current", "previous", "year_before")
PERIOD_LABELS = {
    "current": N_("This period"),
    "previous": N_("Previous period"),
    "year_before": N_("Same period a year before"),
}
SMALL_COUNT = 5  # counts from 1 to 4 are written "<5" in de-identified exports

_OUTBOX_STATUSES = {
    "pending": N_("Waiting to be sent"),
    "sending": N_("Being sent"),
    "sent": N_("Sent"),
    "delivered": N_("Delivered"),
    "undelivered": N_("Not delivered"),
    "failed": N_("Failed"),
    "suppressed": N_("Not sent: opted out"),
    "withdrawn": N_("Withdrawn"),
}
_ATTENDANCE = {
    "attended": N_("Attended"),
    "late": N_("Came late"),
    "no_show": N_("Did not come"),
    "cancelled_late": N_("Cancelled late"),
}


def suppressed(count: int) -> str | int:
    """A count as a de-identified export writes it: 1–4 hidden, so no small group can be singled out."""
    return "<5" if 0 < count < SMALL_COUNT else count


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    values: tuple[Value, Value, Value]  # current, previous, year before


@dataclass
class Panel:
    ident: str
    section: str
    title: str
    rows: list[Row]
    kind: str = "bar"  # bar | line | table
    unit: str = ""  # "%" for rates, "h"/"d" for durations
    chart: Markup = field(default_factory=lambda: Markup(""))

    def draw(self, names: list[str]) -> None:
        if self.kind == "table" or not self.rows:
            return
        series = [
            Series(names[i], tuple(float(r.values[i] or 0) for r in self.rows)) for i in range(len(names))
        ]
        summary = "; ".join(f"{r.label}: {_say(r.values[0])}" for r in self.rows[:12])
        description = gettext("%(title)s, this period: %(summary)s.") % {
            "title": self.title,
            "summary": summary,
        }
        labels = [r.label for r in self.rows]
        draw = line_chart if self.kind == "line" else bar_chart
        self.chart = draw(
            self.ident, self.title, description, labels, series if self.kind == "bar" else series[:1]
        )


def _say(value: Value) -> str:
    return "—" if value is None else f"{value:g}"


def _get(figures: dict[str, Any], path: str) -> Any:
    value: Any = figures
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _breakdown(
    three: dict[str, dict[str, Any]], path: str, labeller: Callable[[str], str], keys: list[str] | None = None
) -> list[Row]:
    tables = [(_get(three[name], path) or {}) for name in PERIOD_NAMES]
    ordered = keys or sorted(set().union(*tables), key=lambda k: (-_count(tables[0].get(k)), k))
    return [
        Row(k, labeller(k), (tables[0].get(k, 0), tables[1].get(k, 0), tables[2].get(k, 0))) for k in ordered
    ]


def _scalars(three: dict[str, dict[str, Any]], items: list[tuple[str, str]]) -> list[Row]:
    return [
        Row(
            path,
            gettext(text),
            (_get(three["current"], path), _get(three["previous"], path), _get(three["year_before"], path)),
        )
        for path, text in items
    ]


def _count(value: Any) -> int:
    return int(value) if isinstance(value, int | float) else 0


def _vocab(kind: str) -> Callable[[str], str]:
    return lambda code: label_of(kind, code)


def _dict(vocabulary: dict[str, str]) -> Callable[[str], str]:
    return lambda code: gettext(label(vocabulary, code))


def _plain(code: str) -> str:
    return code


_VOICE_OUTCOMES = {
    "answered": N_("Answered"),
    "abandoned": N_("Abandoned"),
    "voicemail": N_("Voicemail"),
    "out_of_hours": N_("Out of hours"),
}


def _voice_panels(three: dict[str, dict[str, Any]], add: Callable[..., None]) -> None:
    add(
        "voice-summary",
        "voice",
        N_("Voice calls"),
        _scalars(
            three,
            [
                ("voice.total", N_("Voice calls received")),
                *((f"voice.{key}", text) for key, text in _VOICE_OUTCOMES.items()),
                ("voice.service_level_rate", N_("Service level (answered within 20 s)")),
                ("voice.median_wait_seconds", N_("Median seconds waited before an answer")),
                ("voice.p90_wait_seconds", N_("Seconds within which 90% were answered")),
            ],
        ),
        kind="table",
    )
    lines = sorted(set().union(*((_get(three[n], "voice.by_line") or {}) for n in PERIOD_NAMES)))
    add(
        "voice-line",
        "voice",
        N_("Voice calls by line and outcome"),
        [
            Row(
                f"{line}.{outcome}",
                f"{label_of('line', line)} · {gettext(text)}",
                tuple(  # type: ignore[arg-type]
                    _get(three[n], f"voice.by_line.{line}.{outcome}") or 0 for n in PERIOD_NAMES
                ),
            )
            for line in lines
            for outcome, text in _VOICE_OUTCOMES.items()
        ],
    )


def build_panels(three: dict[str, dict[str, Any]]) -> list[Panel]:
    """Panels for every section the figures hold (a coordinator's hold booking and SMS only)."""
    current = three["current"]
    panels: list[Panel] = []

    def add(ident: str, section: str, title: str, rows: list[Row], **kw: Any) -> None:
        panels.append(Panel(ident, section, gettext(title), rows, **kw))

    if "calls" in current:
        days = sorted((_get(current, "calls.by.day") or {}).keys())
        day_counts = _get(current, "calls.by.day") or {}
        add(
            "calls-day",
            "calls",
            N_("Calls by day"),
            [Row(d, d[5:], (day_counts.get(d, 0), None, None)) for d in days],
            kind="line",
        )
        add(
            "calls-summary",
            "calls",
            N_("Calls"),
            _scalars(
                three,
                [
                    ("calls.total", N_("Calls received")),
                    ("calls.repeat_callers", N_("Repeat callers")),
                    ("calls.repeat_calls", N_("Calls from repeat callers")),
                ],
            ),
            kind="table",
        )
        add("calls-line", "calls", N_("Calls by line"), _breakdown(three, "calls.by.line", _vocab("line")))
        add(
            "calls-category",
            "calls",
            N_("Calls by category"),
            _breakdown(three, "calls.by.category", _vocab("category")),
        )
        add(
            "calls-caller",
            "calls",
            N_("Calls by caller type"),
            _breakdown(three, "calls.by.caller_type", _vocab("caller_type")),
        )
        add(
            "calls-age",
            "calls",
            N_("Calls by child age band"),
            _breakdown(three, "calls.by.child_age_band", _vocab("child_age_band")),
        )
        add(
            "calls-urgency",
            "calls",
            N_("Calls by urgency"),
            _breakdown(three, "calls.by.urgency", _vocab("urgency")),
        )
        if current.get("voice") is not None:  # versions signed before voice figures existed have none
            _voice_panels(three, add)
        add(
            "cases-summary",
            "cases",
            N_("Cases"),
            _scalars(
                three,
                [
                    ("cases.opened", N_("Cases opened")),
                    ("cases.closed", N_("Cases closed")),
                    ("cases.median_hours_to_close", N_("Median hours to close")),
                ],
            ),
            kind="table",
        )
        add(
            "cases-status",
            "cases",
            N_("Cases opened, by state now"),
            _breakdown(three, "cases.by.status", _vocab("status")),
        )
        add(
            "cases-risk",
            "cases",
            N_("Cases opened, by risk"),
            _breakdown(three, "cases.by.risk", _vocab("risk")),
        )
        add(
            "cases-flag",
            "cases",
            N_("Cases opened, by child flag (四失 and others)"),
            _breakdown(three, "cases.by.flag", _vocab("child_flag")),
        )
        add(
            "referrals-summary",
            "referrals",
            N_("Referrals"),
            _scalars(
                three,
                [
                    ("referrals.sent", N_("Referrals sent")),
                    ("referrals.ack_on_time_rate", N_("Acknowledged within a day (share)")),
                    ("referrals.feedback_on_time_rate", N_("Feedback on time (share)")),
                    ("referrals.median_days_to_feedback", N_("Median days to feedback")),
                ],
            ),
            kind="table",
        )
        kinds = _breakdown(three, "referrals.by_kind", _dict(AGENCY_KINDS))

        def sent(name: str, kind: str) -> int:
            return int(_get(three[name], f"referrals.by_kind.{kind}.sent") or 0)

        kind_rows = [
            Row(r.key, r.label, (sent("current", r.key), sent("previous", r.key), sent("year_before", r.key)))
            for r in kinds
        ]
        add("referrals-kind", "referrals", N_("Referrals by agency kind"), kind_rows)
        add(
            "mandatory-summary",
            "mandatory_reports",
            N_("Mandatory reports"),
            _scalars(
                three,
                [
                    ("mandatory_reports.count", N_("Mandatory reports arising")),
                    ("mandatory_reports.recorded", N_("Reported to the police")),
                    ("mandatory_reports.overdue", N_("Late or overdue")),
                    ("mandatory_reports.median_hours_to_report", N_("Median hours to report")),
                ],
            ),
            kind="table",
        )
        add(
            "tasks-summary",
            "tasks",
            N_("Follow-ups"),
            _scalars(
                three,
                [
                    ("tasks.due", N_("Follow-ups due")),
                    ("tasks.done_on_time", N_("Done on time")),
                    ("tasks.on_time_rate", N_("Done on time (share)")),
                ],
            ),
            kind="table",
        )
        add(
            "satisfaction",
            "tasks",
            N_("Satisfaction follow-ups"),
            _breakdown(three, "tasks.satisfaction", _dict(SATISFACTION)),
        )
    add(
        "bookings-summary",
        "bookings",
        N_("Bookings"),
        _scalars(
            three,
            [
                ("bookings.total", N_("Consultations booked")),
                ("bookings.cancelled", N_("Cancelled")),
                ("bookings.attendance_rate", N_("Attendance rate")),
                ("bookings.no_show_rate", N_("No-show rate")),
            ],
        ),
        kind="table",
    )
    add("bookings-site", "bookings", N_("Bookings by site"), _breakdown(three, "bookings.by.site", _plain))
    add(
        "bookings-expert",
        "bookings",
        N_("Bookings by expert"),
        _breakdown(three, "bookings.by.expert", _plain),
    )
    add(
        "bookings-mode",
        "bookings",
        N_("Bookings by mode"),
        _breakdown(three, "bookings.by.mode", _vocab("mode")),
    )
    add(
        "bookings-attendance",
        "bookings",
        N_("Attendance"),
        _breakdown(three, "bookings.by.attendance", _dict(_ATTENDANCE)),
    )
    add(
        "sms-summary",
        "sms",
        N_("SMS"),
        _scalars(
            three,
            [
                ("sms.total", N_("SMS written")),
                ("sms.sent", N_("Sent")),
                ("sms.delivered", N_("Delivered")),
                ("sms.failed", N_("Failed")),
                ("sms.opted_out", N_("Not sent: opted out")),
            ],
        ),
        kind="table",
    )
    add("sms-status", "sms", N_("SMS by status"), _breakdown(three, "sms.by.status", _dict(_OUTBOX_STATUSES)))
    names = [gettext(PERIOD_LABELS[n]) for n in PERIOD_NAMES]
    for panel in panels:
        panel.draw(names)
    return panels
