"""The django-appointment side of bench/slot_engine.py; runs in that package's own virtual environment.

Reads the roster JSON the main script wrote (weekly hours, days off, bookings, the first day and the
number of days), loads it into django-appointment's models on SQLite, and times:
  db    — `appointment.services.get_available_slots_for_staff` for every expert and day (their way to
          answer "free times of every expert": one call per expert and day, several queries each);
  core  — their pure slot functions (`calculate_slots` + `exclude_unavailable_slots`) per expert and
          day on in-memory bookings, the counterpart of our `booking.availability.free_slots`.
Prints one JSON object. Not imported by the project: it needs Django, which the project does not use.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path


def _setup(db_path: Path) -> None:
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        USE_TZ=True,
        TIME_ZONE="Asia/Shanghai",
        SECRET_KEY="bench-only-not-a-secret",  # noqa: S106 - a throwaway SQLite file
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "phonenumber_field",
            "appointment",
        ],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(db_path)}},
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        APPOINTMENT_SLOT_DURATION=60,
        APPOINTMENT_BUFFER_TIME=0,
        APPOINTMENT_LEAD_TIME=(9, 0),
        APPOINTMENT_FINISH_TIME=(17, 0),
    )
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, run_syncdb=True)


def main() -> None:
    roster = json.loads(Path(sys.argv[1]).read_text())
    first = date.fromisoformat(roster["first_day"])
    days = [first + timedelta(days=i) for i in range(roster["days"])]
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else len(roster["experts"])
    experts = roster["experts"][:limit]
    with tempfile.TemporaryDirectory() as tmp:
        _setup(Path(tmp) / "appointment.db")
        from appointment.models import (
            Appointment,
            AppointmentRequest,
            DayOff,
            Service,
            StaffMember,
            WorkingHours,
        )
        from appointment.services import get_available_slots_for_staff
        from appointment.utils.db_helpers import calculate_slots, exclude_unavailable_slots
        from django.contrib.auth import get_user_model
        from django.db import transaction

        user_model = get_user_model()
        loaded = time.perf_counter()
        with transaction.atomic():
            service = Service.objects.create(name="consultation", duration=timedelta(minutes=60), price=0)
            client = user_model.objects.create(username="parent", email="parent@example.org")
            staff = []
            for e in experts:
                user = user_model.objects.create(username=f"expert{e['id']}", email=f"e{e['id']}@example.org")
                member = StaffMember.objects.create(
                    user=user, slot_duration=60, slot_gap_time=0, work_on_saturday=False, work_on_sunday=False
                )
                member.services_offered.add(service)
                for weekday, start, end in e["weekly"]:
                    # theirs: 0 = Sunday; ours: 0 = Monday
                    WorkingHours.objects.create(
                        staff_member=member,
                        day_of_week=(weekday + 1) % 7,
                        start_time=start,
                        end_time=end,
                    )
                for off_first, off_last in e["days_off"]:
                    DayOff.objects.create(staff_member=member, start_date=off_first, end_date=off_last)
                requests = AppointmentRequest.objects.bulk_create(
                    [
                        AppointmentRequest(
                            date=b_day,
                            start_time=b_start,
                            end_time=b_end,
                            service=service,
                            staff_member=member,
                        )
                        for b_day, b_start, b_end in e["bookings"]
                    ]
                )
                Appointment.objects.bulk_create(
                    [
                        Appointment(client=client, appointment_request=r, phone="+8613800000000")
                        for r in requests
                    ]
                )
                staff.append((member, e))
        load_seconds = time.perf_counter() - loaded

        # Their roster-wide answer: every expert, every day, through the database.
        started = time.perf_counter()
        db_free = 0
        for member, _ in staff:
            for day in days:
                db_free += len(get_available_slots_for_staff(day, member, (day.weekday() + 1) % 7))
        db_seconds = time.perf_counter() - started

        # Their pure core on in-memory bookings, per expert over all days.
        class Booked:
            def __init__(self, start: datetime, end: datetime) -> None:
                self.start, self.end = start, end

            def get_start_time(self) -> datetime:
                return self.start

            def get_end_time(self) -> datetime:
                return self.end

        per_expert_ms: list[float] = []
        core_free = 0
        slot = timedelta(minutes=60)
        for _, e in staff:
            weekly = {w: (datetime.strptime(s, "%H:%M").time(), datetime.strptime(t, "%H:%M").time())
                      for w, s, t in e["weekly"]}  # fmt: skip
            off = [(date.fromisoformat(a), date.fromisoformat(b)) for a, b in e["days_off"]]
            by_day: dict[date, list[Booked]] = {}
            for b_day, b_start, b_end in e["bookings"]:
                d = date.fromisoformat(b_day)
                by_day.setdefault(d, []).append(
                    Booked(datetime.combine(d, datetime.strptime(b_start, "%H:%M").time()),
                           datetime.combine(d, datetime.strptime(b_end, "%H:%M").time()))
                )  # fmt: skip
            t0 = time.perf_counter()
            for day in days:
                hours = weekly.get(day.weekday())
                if hours is None or any(a <= day <= b for a, b in off):
                    continue
                start, end = datetime.combine(day, hours[0]), datetime.combine(day, hours[1])
                slots = calculate_slots(start, end, start, slot)
                core_free += len(
                    exclude_unavailable_slots(slots, appointments=by_day.get(day, []), slot_duration=slot)
                )
            per_expert_ms.append((time.perf_counter() - t0) * 1000)

        from importlib.metadata import version

        import django as dj

        print(
            json.dumps(
                {
                    "experts": len(staff),
                    "load_seconds": load_seconds,
                    "db_seconds": db_seconds,
                    "db_free": db_free,
                    "core_ms_per_expert": statistics.median(per_expert_ms),
                    "core_free": core_free,
                    "versions": {
                        "django": dj.get_version(),
                        "django-appointment": version("django-appointment"),
                    },
                }
            )
        )


if __name__ == "__main__":
    main()
