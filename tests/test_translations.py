"""Every message shown to people has a Simplified Chinese translation (zh_Hans is the default locale)."""

from __future__ import annotations

from babel.messages.extract import extract_from_dir

from core.i18n import LOCALE_DIR, load_translations
from core.settings import PROJECT_ROOT

METHOD_MAP = [
    ("app/**.py", "python"),
    ("core/**.py", "python"),
    ("hotline/**.py", "python"),
    ("booking/**.py", "python"),
    ("notifications/**.py", "python"),
    ("reports/**.py", "python"),
    ("templates/**.html", "jinja2.ext:babel_extract"),
    ("templates/sms/**.txt", "jinja2.ext:babel_extract"),
]
KEYWORDS = {"_": None, "gettext": None, "N_": None, "ngettext": (1, 2)}
OPTIONS = {
    "templates/**.html": {"extensions": "jinja2.ext.i18n"},
    "templates/sms/**.txt": {"extensions": "jinja2.ext.i18n"},
}


def _message_ids() -> dict[str, str]:
    found: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(PROJECT_ROOT), METHOD_MAP, options_map=OPTIONS, keywords=KEYWORDS
    ):
        for msgid in message if isinstance(message, tuple) else (message,):
            if msgid:
                found.setdefault(msgid, f"{filename}:{lineno}")
    return found


def test_every_message_has_a_simplified_chinese_translation():
    translations = load_translations("zh_Hans")
    missing = {
        msgid: where for msgid, where in _message_ids().items() if translations.gettext(msgid) == msgid
    }
    assert not missing, "untranslated (add to a .po file under locales/zh_Hans): " + "\n".join(
        f"{where}: {msgid!r}" for msgid, where in sorted(missing.items(), key=lambda kv: kv[1])
    )


def test_catalogues_exist_for_each_area():
    names = {p.stem for p in (LOCALE_DIR / "zh_Hans" / "LC_MESSAGES").glob("*.po")}
    assert "app" in names


def test_every_package_is_searched_for_messages():
    """A package the extraction map forgets would let its messages go untranslated unnoticed."""
    searched = {pattern.split("/")[0] for pattern, _method in METHOD_MAP}
    packages = {
        init.parent.name
        for init in PROJECT_ROOT.glob("*/__init__.py")
        if init.parent.name not in {"tests", "migrations", "bench"}
    }
    assert packages <= searched, f"add to METHOD_MAP: {sorted(packages - searched)}"
