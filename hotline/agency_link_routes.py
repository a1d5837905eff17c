"""The agency's pages behind its secret referral link: no account, the token in the URL is the
credential (the rules are hotline.agency_link's). Never cached, never leaked through Referer; the forms
carry the CSRF token like the parents' booking pages."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect, Template

from booking.page_helpers import PRIVATE_HEADERS
from core.db import DbSession
from core.errors import FormInvalid
from core.http import client_ip
from core.i18n import gettext
from core.privacy import CipherDep
from core.settings import SettingsDep
from hotline.agency_link import (
    AgencyAnswer,
    LinkDead,
    LinkThrottled,
    StepRefused,
    acknowledge,
    decline,
    give_feedback,
    open_link,
)
from hotline.page_helpers import label_of
from hotline.referral_section import referral_vocabularies

__all__ = ["AgencyLinkPages"]

AnyRequest = Request[Any, Any, Any]


def _refusal(exc: Exception) -> Template:
    """The one page for a dead link (404, never saying why) or for too many guesses (429)."""
    throttled = isinstance(exc, LinkThrottled)
    return Template(
        template_name="agency/link_refused.html",
        context={"throttled": throttled},
        status_code=429 if throttled else 404,
        headers=PRIVATE_HEADERS,
    )


async def _page(
    request: AnyRequest,
    db: DbSession,
    settings: SettingsDep,
    cipher: CipherDep,
    token: str,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Template:
    try:
        page = await open_link(db, cipher, settings, token=token, client_ip=client_ip(request))
    except (LinkDead, LinkThrottled) as exc:
        return _refusal(exc)
    return Template(
        template_name="agency/referral.html",
        context={
            "page": page,
            "token": token,
            "error": error,
            "label_of": label_of,
            **referral_vocabularies(),
        },
        status_code=status_code,
        headers=PRIVATE_HEADERS,
    )


class AgencyLinkPages(Controller):
    path = "/r"
    include_in_schema = False

    @get("/{token:str}", name="agency:referral")
    async def referral(
        self,
        request: AnyRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        token: FromPath[str],
    ) -> Template:
        return await _page(request, db, settings, cipher, token)

    @post("/{token:str}/acknowledge", name="agency:acknowledge")
    async def acknowledge(
        self,
        request: AnyRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        token: FromPath[str],
        data: URLEncodedBody[AgencyAnswer],
    ) -> Template | Redirect:
        step = acknowledge(db, cipher, settings, token=token, name=data.text, client_ip=client_ip(request))
        return await _act(request, db, settings, cipher, token, step)

    @post("/{token:str}/feedback", name="agency:feedback")
    async def feedback(
        self,
        request: AnyRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        token: FromPath[str],
        data: URLEncodedBody[AgencyAnswer],
    ) -> Template | Redirect:
        step = give_feedback(db, cipher, settings, token=token, text=data.text, client_ip=client_ip(request))
        return await _act(request, db, settings, cipher, token, step)

    @post("/{token:str}/decline", name="agency:decline")
    async def decline(
        self,
        request: AnyRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        token: FromPath[str],
        data: URLEncodedBody[AgencyAnswer],
    ) -> Template | Redirect:
        step = decline(db, cipher, settings, token=token, reason=data.text, client_ip=client_ip(request))
        return await _act(request, db, settings, cipher, token, step)


async def _act(
    request: AnyRequest,
    db: DbSession,
    settings: SettingsDep,
    cipher: CipherDep,
    token: str,
    step: Coroutine[Any, Any, None],
) -> Template | Redirect:
    """Run one step of the agency's; back to the page on success, or the page with what went wrong."""
    try:
        await step
    except (LinkDead, LinkThrottled) as exc:
        return _refusal(exc)
    except FormInvalid as exc:
        message = gettext(next(iter(exc.errors.values())))
        return await _page(request, db, settings, cipher, token, error=message, status_code=400)
    except StepRefused:
        message = gettext("This step was already taken or is no longer possible.")
        return await _page(request, db, settings, cipher, token, error=message, status_code=409)
    return Redirect(request.app.route_reverse("agency:referral", token=token), status_code=303)
