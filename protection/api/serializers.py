"""The bodies of the protection endpoints: the fixed ones of the back-office API contract
(`/players/{id}/limits`, `/players/{id}/exclusions`) plus the session limit and the reality
check. Money in and out as decimal strings with a currency."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from protection.choices import MONEY_KINDS, ExclusionKind, LimitPeriod
from protection.models import Exclusion
from wallets.api.serializers import CurrencyField
from wallets.money import format_amount

# The kinds a limit of PUT /players/{id}/limits may have (the session limit has its own).
LIMIT_KINDS = [(kind.value, kind.label) for kind in MONEY_KINDS]


@extend_schema_field({"type": "string", "nullable": True, "example": "100.00"})
class NullableAmountField(serializers.Field):
    """A decimal string or exact JSON number, or null (no limit); kept raw until its currency
    is known."""

    def __init__(self, **kwargs):
        super().__init__(allow_null=True, **kwargs)

    def validate_empty_values(self, data):
        if data is None:
            return True, None
        return super().validate_empty_values(data)

    def to_internal_value(self, data):
        if isinstance(data, (list, dict, bool)):
            raise serializers.ValidationError('must be a decimal string like "100.00" or null')
        return data

    def to_representation(self, value):  # pragma: no cover - input only
        return value


class LimitChangeSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=LIMIT_KINDS)
    period = serializers.ChoiceField(choices=LimitPeriod.choices)
    currency = CurrencyField()
    amount = NullableAmountField(help_text="null removes the limit (after the cooling-off).")
    reason = serializers.CharField(max_length=1000, trim_whitespace=True)


class SessionLimitChangeSerializer(serializers.Serializer):
    minutes = serializers.IntegerField(
        min_value=1, max_value=24 * 60, allow_null=True, help_text="null removes the limit."
    )
    reason = serializers.CharField(max_length=1000, trim_whitespace=True)


def _money(minor, currency):
    return None if minor is None else format_amount(minor, currency)


def _time(value):
    return None if value is None else serializers.DateTimeField().to_representation(value)


def limit_body(limit, counted: dict) -> dict:
    return {
        "kind": limit.kind,
        "period": limit.period,
        "currency": limit.currency,
        "amount": _money(limit.amount, limit.currency),
        "effective_from": _time(limit.effective_from),
        "pending_amount": _money(limit.pending_amount, limit.currency),
        "pending_from": _time(limit.pending_from),
        "pending_removal": limit.removal_pending,
        "counted": _money(
            counted.get((limit.currency, limit.kind, limit.period), 0), limit.currency
        ),
    }


def limits_body(player, limits, session, counted_rows, cooling_off_hours: float) -> dict:
    counted = {(r["currency"], r["kind"], r["period"]): r["counted_minor"] for r in counted_rows}
    return {
        "player": player.pk,
        "limits": [limit_body(limit, counted) for limit in limits],
        "session_minutes": session.amount if session else None,
        "session_pending_minutes": session.pending_amount if session else None,
        "session_pending_from": _time(session.pending_from) if session else None,
        "cooling_off_hours": cooling_off_hours,
    }


class LimitSerializer(serializers.Serializer):
    kind = serializers.CharField()
    period = serializers.CharField()
    currency = serializers.CharField()
    amount = serializers.CharField()
    effective_from = serializers.DateTimeField()
    pending_amount = serializers.CharField(allow_null=True)
    pending_from = serializers.DateTimeField(allow_null=True)
    pending_removal = serializers.BooleanField()
    counted = serializers.CharField(help_text="Counted against the limit in its current period.")


class LimitsSerializer(serializers.Serializer):
    """The response shape of GET and PUT /players/{id}/limits (for the schema)."""

    player = serializers.IntegerField()
    limits = LimitSerializer(many=True)
    session_minutes = serializers.IntegerField(allow_null=True)
    session_pending_minutes = serializers.IntegerField(allow_null=True)
    session_pending_from = serializers.DateTimeField(allow_null=True)
    cooling_off_hours = serializers.FloatField()


class ExclusionCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ExclusionKind.choices)
    until = serializers.DateTimeField(allow_null=True, help_text="null: permanent.")
    reason = serializers.CharField(max_length=1000, trim_whitespace=True)


class ExclusionSerializer(serializers.ModelSerializer):
    active = serializers.SerializerMethodField()

    class Meta:
        model = Exclusion
        fields = [
            "id",
            "player",
            "kind",
            "starts_at",
            "until",
            "reason",
            "created_by_label",
            "created_at",
            "active",
        ]

    def get_active(self, exclusion) -> bool:
        now = self.context["now"]
        return exclusion.starts_at <= now and (exclusion.until is None or exclusion.until > now)


class RealitySessionSerializer(serializers.Serializer):
    session_id = serializers.IntegerField()
    provider = serializers.CharField()
    game_id = serializers.CharField()
    currency = serializers.CharField()
    started_at = serializers.DateTimeField()
    duration_seconds = serializers.IntegerField()
    duration_minutes = serializers.IntegerField()
    minutes_left = serializers.IntegerField(allow_null=True)
    staked = serializers.CharField()
    won = serializers.CharField()
    net_result = serializers.CharField(help_text="wins - stakes: negative when down.")


class RealityCheckSerializer(serializers.Serializer):
    player = serializers.IntegerField()
    at = serializers.DateTimeField()
    session_minutes = serializers.IntegerField(allow_null=True)
    sessions = RealitySessionSerializer(many=True)


def reality_body(player, at, session_minutes, realities) -> dict:
    sessions = []
    for item in realities:
        session = item.session
        seconds = int(item.duration.total_seconds())
        sessions.append(
            {
                "session_id": session.pk,
                "provider": session.provider.code,
                "game_id": session.game_id,
                "currency": session.currency,
                "started_at": _time(session.created_at),
                "duration_seconds": seconds,
                "duration_minutes": seconds // 60,
                "minutes_left": None
                if session_minutes is None
                else max(0, (session_minutes * 60 - seconds) // 60),
                "staked": format_amount(item.staked_minor, session.currency),
                "won": format_amount(item.won_minor, session.currency),
                "net_result": format_amount(item.net_result_minor, session.currency),
            }
        )
    return {
        "player": player.pk,
        "at": _time(at),
        "session_minutes": session_minutes,
        "sessions": sessions,
    }
