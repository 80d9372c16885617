#!/usr/bin/env python3
"""Writes Tests/AloftControlPlaneTests/Fixtures/cron-next.json: next-fire times of cron expressions from Python's
croniter (an implementation independent of Aloft's), for CronTests to check CronExpression against.

    python3 -m venv /tmp/cron && /tmp/cron/bin/pip install croniter && /tmp/cron/bin/python scripts/cron-fixtures.py

Each case: an expression, a time zone, a start (UTC) and the next five fire times after it (UTC, ISO 8601)."""
import json
import os
import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from importlib.metadata import version
from croniter import croniter

EXPRESSIONS = [
    "* * * * *", "*/5 * * * *", "0 * * * *", "30 2 * * *", "15 1-3 * * *", "0 9 * * 1-5", "0 9 * * MON-FRI",
    "0 0 1 * *", "0 0 1 1 *", "0 12 * * 0", "0 12 * * 7", "0 12 * * SUN", "*/15 9-17 * * 1-5", "5/15 * * * *",
    "10-50/20 * * * *", "0 0 29 2 *", "0 0 31 * *", "0 0 13 * 5", "0 6,18 * * *", "45 23 * * 6",
    "0 0 1,15 * *", "0 3 * JAN,JUL *", "30 4 1-7 * MON", "0 */2 * * *", "0 2 * * *", "59 1 * * *",
    "0 0 * * *", "0 1-4 * * *", "*/30 2 * * *", "0 0 28-31 * *", "0 8 * 3-10 TUE,THU",
    "@hourly", "@daily", "@weekly", "@monthly", "@yearly", "5 2 * * *", "5 2-3 * * *", "*/15 2 * * *",
    "5 0-23 * * *", "30 2,4 * * *",
]
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney"]
def utc(*fields):
    return datetime(*fields, tzinfo=timezone.utc)


# Each zone's daylight-saving changes (UTC instants shortly before them), and ordinary times for every zone.
DST_STARTS = {
    "Europe/Berlin": [utc(2026, 3, 28, 23, 0), utc(2026, 10, 24, 23, 30)],  # forward 03-29 01:00, back 10-25 01:00
    "America/New_York": [utc(2026, 3, 8, 5, 0), utc(2026, 11, 1, 4, 45)],  # forward 03-08 07:00, back 11-01 06:00
    "Australia/Sydney": [utc(2026, 4, 4, 14, 0), utc(2026, 10, 3, 15, 0)],  # back 04-04 16:00, forward 10-03 16:00
}
ORDINARY_STARTS = [utc(2026, 12, 3, 21, 23, 40), utc(2027, 2, 27, 12, 0), utc(2028, 2, 28, 23, 59, 59),
                   utc(2026, 6, 15, 9, 0)]


def main():
    random.seed(2026)
    cases = []
    for expression in EXPRESSIONS:
        for zone in ZONES:
            starts = DST_STARTS.get(zone, []) + random.sample(ORDINARY_STARTS, 1 if zone in DST_STARTS else 2)
            for start in starts:
                iterator = croniter(expression, start.astimezone(ZoneInfo(zone)))
                fires = [iterator.get_next(datetime).astimezone(timezone.utc) for _ in range(5)]
                cases.append({
                    "expression": expression, "time_zone": zone,
                    "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "next": [f.strftime("%Y-%m-%dT%H:%M:%SZ") for f in fires],
                })
    path = os.path.join(os.path.dirname(__file__), "..", "Tests", "AloftControlPlaneTests", "Fixtures",
                        "cron-next.json")
    with open(path, "w") as file:
        json.dump({"generator": f"croniter {version('croniter')}", "cases": cases}, file, indent=1)
        file.write("\n")
    print(f"{len(cases)} cases written to {os.path.normpath(path)}")


main()
