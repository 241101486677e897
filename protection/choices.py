"""Enumerations behind the protection app's choice fields, in one place."""

from django.db import models


class LimitKind(models.TextChoices):
    DEPOSIT = "deposit", "Deposit"
    LOSS = "loss", "Loss (stakes - wins)"
    WAGER = "wager", "Wager (stakes)"
    SESSION = "session", "Session time (minutes)"


# The kinds counted in money, per currency and period (the session limit is in minutes).
MONEY_KINDS = (LimitKind.DEPOSIT, LimitKind.LOSS, LimitKind.WAGER)


class LimitPeriod(models.TextChoices):
    DAY = "day", "Day (UTC)"
    WEEK = "week", "Week (ISO, from Monday, UTC)"
    MONTH = "month", "Calendar month (UTC)"


class ExclusionKind(models.TextChoices):
    TIMEOUT = "timeout", "Time-out (1 hour to 6 weeks)"
    SELF_EXCLUSION = "self_exclusion", "Self-exclusion (6 months to permanent)"
