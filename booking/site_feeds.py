"""The secret calendar link of each site, for its reception: shown to coordinators, rotated by them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select

from booking.calendar import site_feed_token
from booking.feed_links import SITE_FEED, new_feed_secret
from booking.models import Site, SiteFeed
from core.accounts import StaffUser
from core.audit import record_audit
from core.db import AsyncSession, utcnow
from core.errors import NotFound
from core.i18n import N_
from core.privacy import FieldCipher
from core.units import get_visible, visible_to

__all__ = ["SiteFeedLink", "rotate_site_feed", "site_feed_links"]


@dataclass(frozen=True)
class SiteFeedLink:
    site: Site
    token: str | None  # None: no link made yet
    rotated_at: datetime | None


async def site_feed_links(
    session: AsyncSession, cipher: FieldCipher, viewer: StaffUser, *, client_ip: str | None
) -> list[SiteFeedLink]:
    """The sites of the viewer's unit and below with their feed links. Showing the links is audited:
    each one opens every booking of a site."""
    rows = (
        await session.exec(
            select(Site, SiteFeed)
            .join(SiteFeed, col(SiteFeed.site_id) == Site.id, isouter=True)
            .where(visible_to(Site.unit_id, viewer.unit_id))
            .order_by(col(Site.name), col(Site.id))
        )
    ).all()
    links = [
        SiteFeedLink(site, site_feed_token(cipher, feed) if feed else None, feed.rotated_at if feed else None)
        for site, feed in rows
    ]
    record_audit(
        session,
        actor_id=viewer.id,
        actor_label=viewer.username,
        action="roster.site_feeds.read",
        object_type="site",
        object_id="*",
        detail={"links": sum(1 for link in links if link.token)},
        client_ip=client_ip,
    )
    await session.commit()
    return links


async def rotate_site_feed(
    session: AsyncSession, cipher: FieldCipher, site_id: int, *, viewer: StaffUser, client_ip: str | None
) -> SiteFeed:
    """Make the site's feed link, or replace it: the old link stops working at once."""
    site = await get_visible(session, Site, site_id, viewer.unit_id)
    if site is None:
        raise NotFound(N_("No such site."))
    feed = (await session.exec(select(SiteFeed).where(SiteFeed.site_id == site.id))).first()
    if feed is None:
        feed = SiteFeed(site_id=site.id or 0, nonce="", token_hash="")
        session.add(feed)
    feed.nonce, feed.token_hash = new_feed_secret(cipher, context=SITE_FEED)
    feed.rotated_at = utcnow()
    record_audit(
        session,
        actor_id=viewer.id,
        actor_label=viewer.username,
        action="roster.site_feed.rotate",
        object_type="site",
        object_id=site.id or 0,
        client_ip=client_ip,
    )
    await session.commit()
    return feed
