"""The password policy for staff accounts: long enough, and not a password that guessers try first.

"Commonly used" is judged by zxcvbn (PyPI `zxcvbn`), which ships a list of the 30,000 most common leaked
passwords and scores how guessable a password is, also from the account's own name; we do not keep a
list of our own. A score below 3 ("safely unguessable: moderate protection from offline attacks") fails.
"""

from __future__ import annotations

from zxcvbn import zxcvbn

from core.errors import FormInvalid
from core.i18n import N_

__all__ = ["MIN_PASSWORD_LENGTH", "check_new_password"]

MIN_PASSWORD_LENGTH = 12
_MIN_SCORE = 3
# zxcvbn's running time grows with length; nobody types a 200-character password, a script might.
_MAX_CHECKED = 128


def check_new_password(
    password: str, *, username: str, display_name: str = "", field: str = "password"
) -> None:
    """Refuse a password the policy does not allow, with a message naming the reason (FormInvalid)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise FormInvalid({field: N_("A password needs at least 12 characters.")})
    if username and username.lower() in password.lower():
        raise FormInvalid({field: N_("A password must not contain the username.")})
    verdict = zxcvbn(password[:_MAX_CHECKED], user_inputs=[username, display_name])
    if verdict["score"] < _MIN_SCORE:
        raise FormInvalid(
            {field: N_("This password is common or easy to guess. Use a longer phrase of unrelated words.")}
        )
