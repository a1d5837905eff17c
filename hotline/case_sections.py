"""The parts of a case page that other modules contribute (the mandatory report, referrals, tasks):
each is an async loader that returns template context, and a partial template
`templates/hotline/case_sections/<name>.html` that renders it. The case page handler runs every loader
after the audited read of the case, so no section can show case content without a `case.read` row."""

from __future__ import annotations

from typing import Any

from hotline.section_context import CaseSection, SectionContext

__all__ = ["CaseSection", "SectionContext", "load_case_sections"]


def _sections() -> list[CaseSection]:
    """The sections, in page order. Imported here, not at module level, so a section module may itself
    import the case views without a cycle."""
    from hotline.mandatory_report_views import mandatory_report_section
    from hotline.referral_section import referrals_section
    from hotline.task_section import task_section

    return [mandatory_report_section, task_section, referrals_section]


async def load_case_sections(context: SectionContext) -> dict[str, Any]:
    loaded: dict[str, Any] = {}
    for section in _sections():
        loaded.update(await section(context))
    return loaded
