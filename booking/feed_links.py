"""Secret calendar feed links, one scheme for an expert's feed and a site's feed.

The token in a feed URL is never stored. It is an HMAC (the data key's blind-index key) of a stored random
nonce, so staff pages can show the link again, while a copy of the database alone can neither open a feed
nor rebuild its URL; requests are matched by the token's SHA-256. A new nonce is a new link: the old one
stops working at once.
"""

from __future__ import annotations

import secrets

from booking.models import Expert
from booking.tokens import token_hash
from core.privacy import FieldCipher

__all__ = [
    "EXPERT_FEED",
    "SITE_FEED",
    "expert_feed_token",
    "feed_token",
    "issue_expert_feed",
    "new_feed_secret",
]

# HMAC contexts: a nonce copied from one kind of feed row to another gives a different token.
EXPERT_FEED = "booking.expert_feed"
SITE_FEED = "booking.site_feed"


def feed_token(cipher: FieldCipher, nonce: str, *, context: str) -> str:
    """The secret in the feed's URL, derived from its stored nonce with the data key."""
    return cipher.blind_index(nonce, context=context)


def new_feed_secret(cipher: FieldCipher, *, context: str) -> tuple[str, str]:
    """A fresh (nonce, token hash) pair to store: the link it makes replaces any earlier one."""
    nonce = secrets.token_hex(32)
    return nonce, token_hash(feed_token(cipher, nonce, context=context))


def issue_expert_feed(cipher: FieldCipher, expert: Expert) -> None:
    """Give the expert a new feed link (the caller commits); any earlier link stops working."""
    expert.feed_nonce, expert.feed_token_hash = new_feed_secret(cipher, context=EXPERT_FEED)


def expert_feed_token(cipher: FieldCipher, expert: Expert) -> str | None:
    """The token of the expert's feed URL; None for a link made before revision 0018, which still works
    but cannot be shown (only its hash was kept)."""
    return feed_token(cipher, expert.feed_nonce, context=EXPERT_FEED) if expert.feed_nonce else None
