"""The operator's voice console: duty (on with the phone they answer on, pause, resume, off), the live
screen-pop (server-sent events; the page itself is the no-script fallback) and logging a voice call into
a new or an earlier case. Rules live in hotline.voice_duty, voice_screen and voice_logging."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Controller, Router, get, post
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, ServerSentEvent, Template

from core.db import AsyncSession, DbSession, utcnow
from core.errors import FormInvalid, NotFound, UserFacingError
from core.http import client_ip
from core.i18n import N_, current_locale, gettext, use_locale
from core.privacy import CipherDep, FieldCipher
from core.settings import SettingsDep
from hotline.intake import CallIntake, call_intake_from_form
from hotline.page_helpers import StaffRequest, hotline_staff_only, page_helpers
from hotline.routes import call_form_context
from hotline.voice_duty import DUTY_ACTS, DutyAct, change_duty, duty_lines, duty_view
from hotline.voice_logging import log_voice_call, loggable_voice_call, voice_facts
from hotline.voice_models import DutyState
from hotline.voice_runtime import voice_runtime
from hotline.voice_screen import (
    MENU_CHOICES,
    CallToLog,
    ScreenPop,
    calls_to_log,
    screen_pop,
    screen_pop_events,
)

__all__ = ["VoiceConsolePages", "router"]

POP_TEMPLATE = "hotline/_screen_pop.html"


@dataclass(frozen=True)
class DutyForm:
    answer_phone: str = ""


def _pop_context(pop: ScreenPop | None, to_log: list[CallToLog]) -> dict[str, Any]:
    return {
        **page_helpers(),
        "pop": pop,
        "to_log": to_log,
        "menu_choices": {code: gettext(text) for code, text in MENU_CHOICES.items()},
    }


async def _console(
    request: StaffRequest,
    db: AsyncSession,
    cipher: FieldCipher,
    *,
    error: str | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    pop = await screen_pop(db, cipher, request.user, now=utcnow(), client_ip=client_ip(request))
    return Template(
        template_name="hotline/voice.html",
        context={
            **_pop_context(pop, await calls_to_log(db, cipher, request.user)),
            "duty": await duty_view(db, cipher, request.user),
            "states": DutyState,
            "error": error,
            "errors": errors or {},
        },
        status_code=status_code,
    )


def _errors(exc: FormInvalid) -> dict[str, str]:
    return {field: gettext(message) for field, message in exc.errors.items()}


class VoiceConsolePages(Controller):
    path = "/hotline/voice"
    guards = (hotline_staff_only,)
    include_in_schema = False

    @get("/", name="hotline:voice")
    async def console(self, request: StaffRequest, db: DbSession, cipher: CipherDep) -> Template:
        return await _console(request, db, cipher)

    @post("/duty/{act:str}", name="hotline:voice_duty")
    async def duty(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        act: FromPath[str],
        data: URLEncodedBody[DutyForm],
    ) -> Template | Redirect:
        if act not in DUTY_ACTS:
            raise NotFound(N_("No such page."))
        try:
            state = await change_duty(
                db,
                cipher,
                user=request.user,
                act=DutyAct(act),
                now=utcnow(),
                answer_phone=data.answer_phone,
                client_ip=client_ip(request),
            )
        except FormInvalid as exc:
            return await _console(request, db, cipher, errors=_errors(exc), status_code=exc.status_code)
        except UserFacingError as exc:
            return await _console(
                request, db, cipher, error=gettext(exc.message), status_code=exc.status_code
            )
        if state == DutyState.AVAILABLE:
            # Calls already waiting are offered now (after the commit, so the dispatcher sees this
            # operator available), not only when the next call arrives.
            runtime = voice_runtime(request)
            for line in duty_lines(request.user):
                runtime.kick(line)
        return Redirect(request.app.route_reverse("hotline:voice"), status_code=303)

    @get("/screen-pop/events", name="hotline:voice_events")
    async def events(
        self, request: StaffRequest, settings: SettingsDep, cipher: CipherDep
    ) -> ServerSentEvent:
        """The live screen-pop: a `pop` event carrying the panel's HTML (escaped by the template) whenever
        the operator's call changes; static/voice_console.js puts it in place."""
        engine = request.app.template_engine
        assert engine is not None  # app.server configures Jinja
        template = engine.get_template(POP_TEMPLATE)
        locale = current_locale()

        def render(pop: ScreenPop | None, to_log: list[CallToLog]) -> str:
            use_locale(locale)
            return str(template.render(**_pop_context(pop, to_log)))

        stream = screen_pop_events(
            request.app.state.sessionmaker,
            cipher,
            request.user,
            render,
            client_ip=client_ip(request),
            seconds=settings.screen_pop_stream_seconds,
        )
        return ServerSentEvent(stream, retry_duration=3000)

    @get("/calls/{voice_call_id:int}/log", name="hotline:voice_log_form")
    async def log_form(
        self,
        request: StaffRequest,
        db: DbSession,
        cipher: CipherDep,
        voice_call_id: FromPath[int],
        case: FromQuery[str | None] = None,
    ) -> Template:
        call = await loggable_voice_call(db, request.user, voice_call_id)
        return Template(
            template_name="hotline/call_form.html",
            context=call_form_context(
                CallIntake(line=call.line, case_number=case),
                {},
                voice=await voice_facts(db, cipher, call),
            ),
        )

    @post("/calls/{voice_call_id:int}/log", name="hotline:voice_log_call")
    async def log_call(
        self,
        request: StaffRequest,
        db: DbSession,
        settings: SettingsDep,
        cipher: CipherDep,
        voice_call_id: FromPath[int],
    ) -> Template | Redirect:
        call = await loggable_voice_call(db, request.user, voice_call_id)
        form = await request.form()
        data = call_intake_from_form({key: [str(value) for value in form.getall(key)] for key in form})
        try:
            logged = await log_voice_call(
                db,
                cipher,
                call=call,
                intake=data,
                actor=request.user,
                settings=settings,
                client_ip=client_ip(request),
            )
        except FormInvalid as exc:
            call = await loggable_voice_call(db, request.user, voice_call_id)
            return Template(
                template_name="hotline/call_form.html",
                context=call_form_context(data, exc.errors, voice=await voice_facts(db, cipher, call)),
                status_code=400,
            )
        target = request.app.route_reverse("hotline:case", number=logged.case_number)
        return Redirect(f"{target}?logged={logged.call_id}", status_code=303)


router = Router(path="/", route_handlers=[VoiceConsolePages])
