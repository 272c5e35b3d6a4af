"""A stand-in for pendulum's few calls a DAG file makes (export_test.go)."""

import datetime as _dt
import zoneinfo


class DateTime(_dt.datetime):
    def in_timezone(self, tz):
        return self.astimezone(timezone(tz) if isinstance(tz, str) else tz)

    def subtract(self, days=0):
        return self - _dt.timedelta(days=days)


def timezone(name):
    return zoneinfo.ZoneInfo(name)


def datetime(year, month, day, hour=0, minute=0, tz="UTC"):
    return DateTime(year, month, day, hour, minute, tzinfo=timezone(tz) if isinstance(tz, str) else tz)
