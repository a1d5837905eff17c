"""The callback list (linked from the operator's tasks page): voicemails and calls abandoned in the queue,
masked numbers, with "call back" and audited playback of voicemails and recorded conversations."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, post
from litestar.params import FromPath, Parameter
from litestar.response import Redirect, Template

from core.db import DbSession
from core.http import client_ip
from core.privacy import CipherDep
from core.settings import SettingsDep
from hotline.page_helpers import StaffRequest, hotline_staff_only, page_helpers
from hotline.voice_callbacks import due_callbacks, place_callback, recording_url
from hotline.voice_runtime import voice_runtime

__all__ = ["CallbackPages"]

CallId = Annotated[int, Parameter(ge=1, le=2**31 - 1)]


class CallbackPages(Controller):
    path = "/hotline"
    guards = (hotline_staff_only,)
    include_in_schema = False

    @get("/callbacks", name="hotline:callbacks")
    async def callbacks(self, request: StaffRequest, db: DbSession, cipher: CipherDep) -> Template:
        return Template(
            template_name="hotline/callbacks.html",
            context={**page_helpers(), "callbacks": await due_callbacks(db, cipher, request.user)},
        )

    @post("/callbacks/{call_id:int}/call", name="hotline:call_back")
    async def call_back(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        call_id: FromPath[CallId],
    ) -> Redirect:
        await place_callback(
            db,
            cipher,
            settings,
            voice_runtime(request).api,
            viewer=request.user,
            call_id=call_id,
            client_ip=client_ip(request),
        )
        return Redirect("/hotline/callbacks", status_code=303)

    @get("/voice-calls/{call_id:int}/voicemail", name="hotline:play_voicemail")
    async def play_voicemail(
        self, request: StaffRequest, db: DbSession, settings: SettingsDep, call_id: FromPath[CallId]
    ) -> Redirect:
        url = await recording_url(
            db, settings, viewer=request.user, call_id=call_id, kind="voicemail", client_ip=client_ip(request)
        )
        return Redirect(url, status_code=303)

    @get("/voice-calls/{call_id:int}/recording", name="hotline:play_recording")
    async def play_recording(
        self, request: StaffRequest, db: DbSession, settings: SettingsDep, call_id: FromPath[CallId]
    ) -> Redirect:
        url = await recording_url(
            db, settings, viewer=request.user, call_id=call_id, kind="recording", client_ip=client_ip(request)
        )
        return Redirect(url, status_code=303)
