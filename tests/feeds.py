"""Feed links in tests: the token a page shows, derived from the stored nonce with the tests' data key."""

from __future__ import annotations

from booking.feed_links import expert_feed_token
from booking.models import Expert
from core.privacy import FieldCipher
from tests.conftest import TEST_DATA_KEY

__all__ = ["feed_path", "feed_token_of"]


def feed_token_of(expert: Expert) -> str:
    token = expert_feed_token(FieldCipher(TEST_DATA_KEY), expert)
    assert token is not None, "the expert has no feed link that can be shown"
    return token


def feed_path(expert: Expert) -> str:
    return f"/calendar/experts/{feed_token_of(expert)}.ics"
