"""Cron schedules as K3s (robfig/cron v3's standard parser, etcd-snapshot-schedule-cron) and Kubernetes CronJobs
(the same parser) read them: the grammar, and how often a valid schedule really fires."""

from __future__ import annotations

import datetime
import functools
import itertools
import re

# Cron fields as robfig/cron's standard parser reads them (K3s' etcd-snapshot-schedule-cron).
# Day of week is 0-6 (robfig/cron v3 spec.go:40, dow bounds {0, 6}): a 7 is refused by the parser, and K3s
# ignores AddJob's error (pkg/etcd/snapshot.go), so `0 3 * * 7` would silently take no snapshot at all.
CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
CRON_NAMES: tuple[dict[str, int], ...] = (
    {},
    {},
    {},
    {m: i + 1 for i, m in enumerate(_MONTHS)},
    {d: i for i, d in enumerate(_DAYS)},
)
CRON_ITEM = re.compile(
    r"(?P<range>\*|\?|(?P<lo>[0-9a-zA-Z]{1,3})(?:-(?P<hi>[0-9a-zA-Z]{1,3}))?)(?:/(?P<step>\d{1,2}))?", re.ASCII
)


def cron_schedule(value: str) -> str | None:
    fields = value.split(" ")
    if len(fields) != 5 or value != value.strip():
        return f"{value!r} is not a 5-field cron schedule (e.g. '0 */6 * * *')"
    for name, field, (low, high), names in zip(
        ("minute", "hour", "day of month", "month", "day of week"), fields, CRON_RANGES, CRON_NAMES, strict=True
    ):
        problem = _cron_field(field, low, high, names)
        if problem:
            return f"{value!r}: the {name} field {field!r} {problem} ({low}-{high})"
    return None


def _cron_field(field: str, low: int, high: int, names: dict[str, int]) -> str | None:
    for item in field.split(","):
        match = CRON_ITEM.fullmatch(item)
        if not match:
            return "is not a cron field"
        if match.group("step") is not None and not 1 <= int(match.group("step")) <= high:
            return "has a step out of range"
        bounds = [match.group("lo"), match.group("hi")]
        numbers = []
        for bound in (b for b in bounds if b is not None):
            number = int(bound) if bound.isdigit() else names.get(bound.lower())
            if number is None or not low <= number <= high:
                return "is out of range"
            numbers.append(number)
        if len(numbers) == 2 and numbers[0] > numbers[1]:
            return "has a reversed range"
    return None


def _expand(field: str, low: int, high: int, names: dict[str, int]) -> tuple[set[int], bool]:
    """The values a valid field matches, and whether it is a star (robfig parser.go getRange: `*` or `?`
    without a step > 1 sets starBit, which decides how day of month and day of week combine)."""
    values: set[int] = set()
    star = False
    for item in field.split(","):
        match = CRON_ITEM.fullmatch(item)
        assert match is not None, field
        step = int(match.group("step") or 1)
        if match.group("range") in ("*", "?"):
            start, end = low, high
            star = star or step == 1
        else:
            start = _number(match.group("lo"), names)
            hi = match.group("hi")
            # "N/step" means N-max/step (parser.go); "N" alone is N.
            end = _number(hi, names) if hi is not None else (high if match.group("step") else start)
        values |= set(range(start, end + 1, step))
    return values, star


def _number(text: str, names: dict[str, int]) -> int:
    return int(text) if text.isdigit() else names[text.lower()]


# Days of week and dates repeat together every 28 years (between 1901 and 2099): a schedule that fires at all
# fires inside this window. Fixed, so the answer never depends on today.
_WINDOW_START = datetime.date(2027, 1, 1)
_WINDOW_DAYS = (datetime.date(2055, 1, 1) - _WINDOW_START).days
# (offset, month, day of month, day of week with Sunday 0) of every day of the window, computed once.
_DAYS_OF_WINDOW = tuple(
    (offset, day.month, day.day, (day.weekday() + 1) % 7)
    for offset, day in ((o, _WINDOW_START + datetime.timedelta(days=o)) for o in range(_WINDOW_DAYS))
)


@functools.lru_cache(maxsize=256)
def fire_gaps(value: str) -> tuple[int, int] | None:
    """(shortest, longest) minutes between two firings of a valid schedule, or None when it never fires
    (`0 0 30 2 *`). Day of month and day of week: both must match when either is a star, else either
    (robfig spec.go dayMatches)."""
    fields = value.split(" ")
    (minutes, _), (hours, _), (doms, dom_star), (months, _), (dows, dow_star) = (
        _expand(field, low, high, names)
        for field, (low, high), names in zip(fields, CRON_RANGES, CRON_NAMES, strict=True)
    )
    times = sorted(h * 60 + m for h in hours for m in minutes)
    both = dom_star or dow_star
    days = [
        offset
        for offset, month, dom, dow in _DAYS_OF_WINDOW
        if month in months and ((dom in doms and dow in dows) if both else (dom in doms or dow in dows))
    ]
    if not days or not times:
        return None
    within = [b - a for a, b in itertools.pairwise(times)]
    across = [(b - a) * 1440 - times[-1] + times[0] for a, b in itertools.pairwise(days)]
    gaps = within + across if len(days) > 1 else within
    if not gaps:
        return None if len(days) == 1 and len(times) == 1 else (min(within), max(within))
    return min(gaps), max(gaps)


# Snapshots and backups: at most every 10 minutes (each one copies the whole database, and a run must end
# before the next one starts), at least once a week (a longer gap is data loss waiting to happen).
MIN_GAP_MINUTES = 10
MAX_GAP_MINUTES = 7 * 24 * 60


def backup_schedule(value: str) -> str | None:
    """A valid schedule that fires, not too often, not too rarely."""
    problem = cron_schedule(value)
    if problem:
        return problem
    gaps = fire_gaps(value)
    if gaps is None:
        return f"{value!r} never fires (no date matches it)"
    shortest, longest = gaps
    if shortest < MIN_GAP_MINUTES:
        return f"{value!r} fires every {shortest} minutes; at most every {MIN_GAP_MINUTES}"
    if longest > MAX_GAP_MINUTES:
        return f"{value!r} leaves {longest // 1440} days between two runs; at least once a week"
    return None
