import datetime

from django.conf import settings
from django.db import models
from django.db.models import Min
from django.utils import timezone


class AuditRecordQuerySet(models.QuerySet):
    def datetimes(self, field_name, kind, order="ASC", tzinfo=None):
        """The years, months or days that hold records, found by one probe of the field's index
        per period (the admin's date hierarchy asks for them on every page). Django's own
        DISTINCT date_trunc reads every record: 330 ms for the years of a million."""
        if kind not in ("year", "month", "day"):
            return super().datetimes(field_name, kind, order, tzinfo)
        zone = tzinfo or timezone.get_current_timezone()
        rows = self.order_by()
        periods = []
        first = rows.aggregate(first=Min(field_name))["first"]
        while first is not None:
            local = first.astimezone(zone)
            start = local.replace(hour=0, minute=0, second=0, microsecond=0)
            if kind in ("year", "month"):
                start = start.replace(day=1, month=1 if kind == "year" else local.month)
            periods.append(start)
            if kind == "year":
                following = start.replace(year=start.year + 1)
            elif kind == "month":
                following = (start + datetime.timedelta(days=32)).replace(day=1)
            else:
                following = (start + datetime.timedelta(days=1, hours=2)).replace(hour=0)
            first = rows.filter(**{f"{field_name}__gte": following}).aggregate(
                first=Min(field_name)
            )["first"]
        return periods if order == "ASC" else periods[::-1]


class AuditRecord(models.Model):
    """Who did what, when, why, with the state before and after. Never updated or deleted."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # "system" or "policy:<name>" when no person acted.
    actor_label = models.CharField(max_length=150)
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=64)
    target_label = models.CharField(max_length=200, blank=True)
    reason = models.TextField(blank=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)

    objects = AuditRecordQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id"], name="audit_by_target")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.target_label}"
