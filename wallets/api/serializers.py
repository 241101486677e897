"""Serializers of the back-office API. Input is validated here; writes go to services/ledger.

Money is rendered as decimal strings with the currency's decimals; amounts come in as decimal
strings (or exact JSON numbers) and are turned into minor units by wallets.money.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from wallets.choices import OpenRoundPolicy, ProviderProtocol, RoundingMode
from wallets.currencies import CURRENCY_CHOICES
from wallets.models import (
    AuditRecord,
    GameSession,
    Player,
    Provider,
    ProviderCredential,
    Transaction,
    Wallet,
)
from wallets.money import format_amount
from wallets.validators import (
    PAYMENT_FINGERPRINT_MAX,
    validate_currency,
    validate_ip_network,
)


class CurrencyField(serializers.ChoiceField):
    """An ISO 4217 code the wallet knows, checked by wallets.validators.validate_currency (the
    admin's check too); the schema lists the codes."""

    def __init__(self, **kwargs):
        super().__init__(choices=CURRENCY_CHOICES, **kwargs)

    def to_internal_value(self, data):
        if data == "" and self.allow_blank:
            return ""
        try:
            validate_currency(data)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.messages, code="unknown_currency") from None
        return data


@extend_schema_field({"type": "string", "example": "12.50"})
class AmountField(serializers.Field):
    """A decimal string or exact JSON number, kept raw until its currency is known."""

    def to_internal_value(self, data):
        if isinstance(data, (list, dict, bool)) or data is None:
            raise serializers.ValidationError('must be a decimal string like "12.50"')
        return data

    def to_representation(self, value):  # pragma: no cover - input only
        return str(value)


PG_INTEGER_MAX = 2_147_483_647


def money(minor: int, currency: str) -> str:
    return format_amount(minor, currency)


class CredentialSerializer(serializers.ModelSerializer):
    class Meta:
        model = ProviderCredential
        fields = ["kind", "fingerprint", "created_at", "expires_at", "revoked_at", "last_used_at"]


class ProviderSerializer(serializers.ModelSerializer):
    credentials = serializers.SerializerMethodField()
    open_sessions = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = Provider
        fields = [
            "code",
            "name",
            "currencies",
            "status",
            "status_reason",
            "status_changed_at",
            "ip_allowlist",
            "rounding_mode",
            "idle_timeout_seconds",
            "round_timeout_seconds",
            "max_sessions_per_player",
            "open_round_policy",
            "protocol",
            "protocol_options",
            "created_at",
            "open_sessions",
            "credentials",
        ]
        read_only_fields = fields

    @extend_schema_field(CredentialSerializer(many=True))
    def get_credentials(self, provider):
        now = timezone.now()
        active = [
            c
            for c in provider.credentials.all()
            if c.revoked_at is None and (c.expires_at is None or c.expires_at > now)
        ]
        return CredentialSerializer(active, many=True).data


class ProviderCreateSerializer(serializers.Serializer):
    code = serializers.SlugField(max_length=64)
    name = serializers.CharField(max_length=200)
    currencies = serializers.ListField(child=CurrencyField(), allow_empty=False)
    ip_allowlist = serializers.ListField(
        child=serializers.CharField(max_length=64, validators=[validate_ip_network]),
        required=False,
        default=list,
    )
    rounding_mode = serializers.ChoiceField(
        choices=RoundingMode.choices, required=False, allow_blank=True, default=""
    )
    # The model's PositiveIntegerFields are 32-bit in PostgreSQL: bigger values are refused here
    # (400 naming the field) rather than by the database (a 500).
    idle_timeout_seconds = serializers.IntegerField(
        min_value=30, max_value=PG_INTEGER_MAX, required=False
    )
    round_timeout_seconds = serializers.IntegerField(
        min_value=30, max_value=PG_INTEGER_MAX, required=False
    )
    max_sessions_per_player = serializers.IntegerField(
        min_value=1, max_value=PG_INTEGER_MAX, required=False
    )
    open_round_policy = serializers.ChoiceField(choices=OpenRoundPolicy.choices, required=False)
    protocol = serializers.ChoiceField(
        choices=ProviderProtocol.choices,
        required=False,
        default=ProviderProtocol.NATIVE,
        help_text="The wallet protocol the provider calls in (docs/integrations/).",
    )
    public_key = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=10_000,
        help_text="hub88: the provider's RSA public key (PEM) its calls are verified with.",
    )
    protocol_options = serializers.JSONField(
        required=False,
        default=dict,
        help_text="Settings of the protocol for this provider (see its page in docs/).",
    )


class ProviderWithSecretSerializer(ProviderSerializer):
    secret = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="The protocol's shared secret (the native API's HMAC key, Evolution's "
        "authToken, Pragmatic's hash key, SoftSwiss's signing token). Shown only in this "
        "response: store it now. Null for hub88, which signs with its own RSA key.",
    )

    class Meta(ProviderSerializer.Meta):
        fields = [*ProviderSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class SecretSerializer(serializers.Serializer):
    secret = serializers.CharField(read_only=True)
    fingerprint = serializers.CharField(read_only=True)


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, trim_whitespace=True)


class OptionalReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=500, trim_whitespace=True, required=False, allow_blank=True, default=""
    )


class CredentialAddSerializer(serializers.Serializer):
    public_key = serializers.CharField(
        max_length=1000, help_text="Ed25519 public key: 32 raw bytes as hex or base64, or PEM."
    )
    expires_at = serializers.DateTimeField(
        required=False, allow_null=True, default=None, help_text="Default: the policy's lifetime."
    )
    reason = serializers.CharField(
        max_length=500, trim_whitespace=True, required=False, allow_blank=True, default=""
    )


class SuspendSerializer(ReasonSerializer):
    kill_open_sessions = serializers.BooleanField(required=False, default=False)


class BalanceSerializer(serializers.Serializer):
    currency = serializers.CharField()
    balance = serializers.CharField()
    reserved = serializers.CharField()
    available = serializers.CharField()

    @staticmethod
    def of(wallet: Wallet) -> dict:
        return {
            "currency": wallet.currency,
            "balance": money(wallet.balance_minor, wallet.currency),
            "reserved": money(wallet.reserved_minor, wallet.currency),
            "available": money(wallet.available_minor, wallet.currency),
        }


class PlayerSerializer(serializers.ModelSerializer):
    balances = serializers.SerializerMethodField()

    class Meta:
        model = Player
        fields = [
            "id",
            "external_id",
            "currency",
            "country",
            "registration_ip",
            "status",
            "status_reason",
            "created_at",
            "balances",
        ]
        read_only_fields = fields

    @extend_schema_field(BalanceSerializer(many=True))
    def get_balances(self, player):
        return [BalanceSerializer.of(w) for w in player.wallets.all()]


class PlayerCreateSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=128)
    currency = CurrencyField()
    country = serializers.RegexField(r"^[A-Za-z]{2}$", required=False, allow_blank=True, default="")
    registration_ip = serializers.IPAddressField(required=False, allow_null=True, default=None)


@extend_schema_field(
    {
        "type": "string",
        "nullable": True,
        "minLength": 1,
        "maxLength": PAYMENT_FINGERPRINT_MAX,
        "pattern": "^[A-Za-z0-9_\\-:.]+$",
        "description": "The gateway's token for the card, account or e-wallet paid from or to "
        "(never the card number). Matched exactly against the fraud lists.",
    }
)
class PaymentFingerprintField(serializers.Field):
    """Passed through as sent: the ledger checks it (wallets.validators) and refuses a bad one
    with VALIDATION_ERROR naming `payment_fingerprint` and what is wrong, so that every caller of
    wallets.ledger gets the same answer."""

    def to_internal_value(self, data):
        return data

    def to_representation(self, value):
        return value


class PaymentSerializer(serializers.Serializer):
    player = serializers.PrimaryKeyRelatedField(queryset=Player.objects.all())
    amount = AmountField()
    currency = CurrencyField()
    external_id = serializers.CharField(max_length=128)
    ip = serializers.IPAddressField(required=False, allow_null=True, default=None)
    payment_fingerprint = PaymentFingerprintField(required=False, allow_null=True, default=None)


class TransactionSerializer(serializers.ModelSerializer):
    provider = serializers.SlugRelatedField(slug_field="code", read_only=True)
    amount = serializers.SerializerMethodField()
    delta = serializers.SerializerMethodField()
    balance_after = serializers.SerializerMethodField()
    duplicate = serializers.SerializerMethodField()

    class Meta:
        model = Transaction
        fields = [
            "id",
            "kind",
            "status",
            "player",
            "wallet",
            "provider",
            "session",
            "round_external_id",
            "currency",
            "amount",
            "delta",
            "balance_after",
            "external_id",
            "reference",
            "reference_external_id",
            "game_id",
            "client_ip",
            "payment_fingerprint",
            "request_id",
            "processing_us",
            "lock_wait_us",
            "note",
            "created_at",
            "decided_at",
            "duplicate",
        ]
        read_only_fields = fields

    def get_amount(self, txn) -> str:
        return money(txn.amount_minor, txn.currency)

    def get_delta(self, txn) -> str:
        return money(txn.delta_minor, txn.currency)

    def get_balance_after(self, txn) -> str:
        return money(txn.balance_after_minor, txn.currency)

    def get_duplicate(self, txn) -> bool:
        return bool(self.context.get("duplicate", False))


class SessionSerializer(serializers.ModelSerializer):
    provider = serializers.SlugRelatedField(slug_field="code", read_only=True)
    buy_in = serializers.SerializerMethodField()
    reserved = serializers.SerializerMethodField()
    idle_seconds = serializers.SerializerMethodField()

    class Meta:
        model = GameSession
        fields = [
            "id",
            "player",
            "provider",
            "currency",
            "game_id",
            "status",
            "created_at",
            "authenticated_at",
            "last_activity_at",
            "idle_seconds",
            "ended_at",
            "end_reason",
            "ended_by",
            "end_note",
            "buy_in",
            "reserved",
        ]
        read_only_fields = fields

    def get_buy_in(self, session) -> str:
        return money(session.buy_in_minor, session.currency)

    def get_reserved(self, session) -> str:
        return money(session.reserved_minor, session.currency)

    def get_idle_seconds(self, session) -> int:
        return int((timezone.now() - session.last_activity_at).total_seconds())


class SessionWithTokenSerializer(SessionSerializer):
    session_token = serializers.CharField(
        read_only=True, help_text="Give it to the provider's game client. Shown only here."
    )

    class Meta(SessionSerializer.Meta):
        fields = [*SessionSerializer.Meta.fields, "session_token"]
        read_only_fields = fields


class SessionCreateSerializer(serializers.Serializer):
    player = serializers.PrimaryKeyRelatedField(queryset=Player.objects.all())
    provider = serializers.SlugRelatedField(slug_field="code", queryset=Provider.objects.all())
    currency = CurrencyField()
    game_id = serializers.CharField(max_length=128, required=False, allow_blank=True, default="")
    buy_in = AmountField(required=False)


class AuditRecordSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditRecord
        fields = [
            "id",
            "at",
            "actor",
            "actor_label",
            "action",
            "target_type",
            "target_id",
            "target_label",
            "reason",
            "before",
            "after",
        ]
        read_only_fields = fields


class SessionFiguresSerializer(serializers.Serializer):
    window_hours = serializers.IntegerField()
    providers = serializers.ListField(child=serializers.DictField())
    top_players = serializers.ListField(child=serializers.DictField())
