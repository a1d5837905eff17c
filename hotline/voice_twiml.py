"""What callers and operators hear: TwiML built with the `twilio` package's VoiceResponse, spoken in
Mandarin whatever the staff's language (the prompts are msgids translated with the zh_Hans catalogue).

URLs in the TwiML are absolute, on FH_PUBLIC_BASE_URL: Twilio signs the URL it calls, and we check the
signature against that same public URL.
"""

from __future__ import annotations

from functools import lru_cache
from gettext import NullTranslations

from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from core.i18n import N_, load_translations
from core.settings import Settings
from hotline.taxonomy import LINES

__all__ = [
    "VOICE_PATH",
    "callback_bridge",
    "caller_gone",
    "closed_for_voicemail",
    "empty",
    "hang_up",
    "hold",
    "leave_queue",
    "menu",
    "queue_name",
    "to_queue",
    "voicemail",
    "voicemail_thanks",
    "whisper",
]

VOICE_PATH = "/webhooks/twilio/voice"
CALLER_LANGUAGE = "zh_Hans"

GREETING = N_("Welcome to the family-education and youth service hotline.")
RECORDING_NOTICE = N_("This call may be recorded for quality and safety.")
MENU = N_(
    "For family-education advice, press 1. If a child is in danger, press {crisis}. To book or change an "
    "appointment with an expert, press 3. To speak with an operator now, press 0."
)
CONNECTING = N_("Please hold, we are connecting you to an operator.")
POSITION = N_("You are number {position} in the queue.")
HOLD = N_("All our operators are busy. Please stay on the line; your call matters to us.")
OUT_OF_HOURS = N_(
    "The hotline is closed now. In an emergency, call 110 for the police or 120 for an ambulance."
)
NOBODY_FREE = N_("No operator is free at the moment.")
LEAVE_MESSAGE = N_(
    "After the tone, please leave a message with a number we can call you back on, then press the hash key."
)
THANKS = N_("Thank you. We will call you back as soon as we can. Goodbye.")
CALLER_GONE = N_("The caller has hung up.")
WHISPER = N_("A call on the {line}. The caller chose: {choice}.")
WHISPER_CRISIS = N_("Urgent: a child may be in danger.")
CALLBACK_INTRO = N_("Calling the caller back now.")

CHOICE_WORDS = {
    "consultation": N_("family-education advice"),
    "child_safety": N_("a child's safety"),
    "appointment": N_("an expert appointment"),
    "operator": N_("an operator"),
}
NO_CHOICE = N_("no menu option")


@lru_cache(maxsize=1)
def _catalogue() -> NullTranslations:
    return load_translations(CALLER_LANGUAGE)


@lru_cache(maxsize=64)
def _translated(message: str) -> str:
    # The catalogue is a chain of fallbacks (one per .po file): looked up once per prompt, not per call.
    return _catalogue().gettext(message)


def _words(message: str, **values: object) -> str:
    return _translated(message).format(**values)


def _say(target: VoiceResponse | Gather, settings: Settings, text: str) -> None:
    target.say(text, language=settings.voice_say_language, voice=settings.voice_say_voice)


def _url(settings: Settings, path: str) -> str:
    return settings.public_base_url + VOICE_PATH + path


def queue_name(line: str, crisis: bool) -> str:
    """One Twilio queue per line, and a second for crisis calls, which the dispatcher offers first."""
    return f"{line}-crisis" if crisis else line


@lru_cache(maxsize=32)
def menu(settings: Settings, *, greet: bool, recording_notice: bool) -> str:
    """Every in-hours call hears this: the same text for the same settings, so it is built once (Settings
    is frozen and hashable; new settings are a new key)."""
    response = VoiceResponse()
    if greet:
        if settings.voice_greeting_url:
            response.play(settings.voice_greeting_url)
        else:
            _say(response, settings, _words(GREETING))
    if recording_notice:
        _say(response, settings, _words(RECORDING_NOTICE))
    # No input posts an empty Digits to the same action: the caller goes straight to the queue.
    gather = response.gather(
        input="dtmf",
        num_digits=1,
        timeout=6,
        action=_url(settings, "/menu"),
        method="POST",
        action_on_empty_result=True,
    )
    _say(gather, settings, _words(MENU, crisis=settings.voice_crisis_digit))
    return str(response)


def to_queue(settings: Settings, line: str, crisis: bool, *, recording_notice: bool) -> str:
    response = VoiceResponse()
    if recording_notice:
        _say(response, settings, _words(RECORDING_NOTICE))
    _say(response, settings, _words(CONNECTING))
    response.enqueue(
        queue_name(line, crisis),
        action=_url(settings, "/queue-exit"),
        method="POST",
        wait_url=_url(settings, "/wait"),
        wait_url_method="POST",
    )
    return str(response)


def hold(settings: Settings, position: int) -> str:
    """The queue's wait music: position, a hold message, a pause; Twilio fetches it again when done."""
    response = VoiceResponse()
    _say(response, settings, _words(POSITION, position=position))
    _say(response, settings, _words(HOLD))
    response.pause(length=10)
    return str(response)


def leave_queue() -> str:
    response = VoiceResponse()
    response.leave()
    return str(response)


def voicemail(settings: Settings, *, out_of_hours: bool) -> str:
    response = VoiceResponse()
    _say(response, settings, _words(OUT_OF_HOURS if out_of_hours else NOBODY_FREE))
    _say(response, settings, _words(LEAVE_MESSAGE))
    response.record(
        action=_url(settings, "/voicemail-done"),
        method="POST",
        max_length=120,
        timeout=8,
        finish_on_key="#",
        play_beep=True,
        recording_status_callback=_url(settings, "/voicemail-recording"),
        recording_status_callback_method="POST",
        recording_status_callback_event="completed",
    )
    _say(response, settings, _words(THANKS))
    response.hangup()
    return str(response)


def closed_for_voicemail(settings: Settings) -> str:
    return voicemail(settings, out_of_hours=True)


def voicemail_thanks(settings: Settings) -> str:
    response = VoiceResponse()
    _say(response, settings, _words(THANKS))
    response.hangup()
    return str(response)


def empty() -> str:
    return str(VoiceResponse())


def hang_up() -> str:
    response = VoiceResponse()
    response.hangup()
    return str(response)


def whisper(
    settings: Settings, *, offer_id: int, line: str, choice: str | None, crisis: bool, record: bool
) -> str:
    """The operator's leg once they answer: what the call is, then bridged to the front of its queue."""
    response = VoiceResponse()
    if crisis:
        _say(response, settings, _words(WHISPER_CRISIS))
    line_words = _catalogue().gettext(LINES.get(line, line))
    choice_words = _catalogue().gettext(CHOICE_WORDS.get(choice or "", NO_CHOICE))
    _say(response, settings, _words(WHISPER, line=line_words, choice=choice_words))
    dial = Dial(
        record="record-from-answer-dual" if record else None,
        recording_status_callback=_url(settings, f"/recording?offer={offer_id}") if record else None,
        recording_status_callback_method="POST" if record else None,
    )
    dial.queue(
        queue_name(line, crisis), url=_url(settings, f"/offer/connect?offer={offer_id}"), method="POST"
    )
    response.append(dial)
    return str(response)


def caller_gone(settings: Settings) -> str:
    response = VoiceResponse()
    _say(response, settings, _words(CALLER_GONE))
    response.hangup()
    return str(response)


def callback_bridge(settings: Settings, *, caller: str, caller_id: str) -> str:
    """An operator's callback leg: once they answer, dial the caller from the number they had called."""
    response = VoiceResponse()
    _say(response, settings, _words(CALLBACK_INTRO))
    response.dial(caller, caller_id=caller_id, timeout=30)
    return str(response)
