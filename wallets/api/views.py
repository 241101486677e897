"""Back-office API views: validate input, call one service or ledger function, render."""

import csv
import json

from django.db.models import Count, Prefetch, Q
from django.http import StreamingHttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import BaseRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from wallets import crypto, ledger, selectors, services
from wallets.adapters.credentials import client_ip
from wallets.api import filters
from wallets.api import serializers as s
from wallets.api.renderers import SafeJSONRenderer
from wallets.choices import ProviderStatus
from wallets.errors import DuplicateMismatch, ValidationFailed
from wallets.models import (
    AuditRecord,
    GameSession,
    Player,
    Provider,
    ProviderCredential,
    Transaction,
)
from wallets.money import parse_amount

AUDIT_CSV_COLUMNS = [
    "id", "at", "actor_label", "action", "target_type", "target_id", "target_label", "reason",
    "before", "after",
]  # fmt: skip


def _csv_cell(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    # A cell starting with = + - @ (or a tab/CR) would be run as a formula by a spreadsheet.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class _CsvRenderer(BaseRenderer):
    """Lets a client ask for text/csv (Accept) without a 406; errors render as JSON text."""

    media_type = "text/csv"
    format = "csv"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode()


def audit_csv_response(queryset, filename: str = "audit.csv") -> StreamingHttpResponse:
    """Audit records as CSV, streamed row by row (iterator, no full load), formula-safe."""

    class _Echo:
        def write(self, value):
            return value

    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(AUDIT_CSV_COLUMNS)
        for record in queryset.values_list(*AUDIT_CSV_COLUMNS).iterator(chunk_size=2000):
            cells = list(record)
            cells[1] = cells[1].isoformat()
            yield writer.writerow([_csv_cell(c) if c is not None else "" for c in cells])

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _context(request) -> ledger.CallContext:
    return ledger.CallContext(client_ip=client_ip(request), request_id=request.request_id)


class ProviderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    lookup_field = "code"
    serializer_class = s.ProviderSerializer
    filterset_class = filters.ProviderFilterSet
    search_fields = ["code", "name"]
    ordering_fields = ["code", "name", "status", "created_at"]
    # An aggregate annotation drops Meta.ordering (GROUP BY): order explicitly, or pages would
    # come back in an unstable order.
    queryset = (
        Provider.objects.annotate(
            open_sessions=Count("sessions", filter=Q(sessions__status="open"))
        )
        .prefetch_related(Prefetch("credentials", queryset=ProviderCredential.objects.all()))
        .order_by("code")
    )
    ordering = ["code"]
    action_permissions = {
        "suspend": ["wallets.change_provider_status"],
        "restrict": ["wallets.change_provider_status"],
        "restore": ["wallets.change_provider_status"],
        "rotate_secret": ["wallets.rotate_provider_secret"],
        "add_credential": ["wallets.manage_provider_credentials"],
        "revoke_credential": ["wallets.manage_provider_credentials"],
    }

    @extend_schema(
        request=s.ProviderCreateSerializer, responses={201: s.ProviderWithSecretSerializer}
    )
    def create(self, request):
        """Register a provider speaking `protocol`. Its shared secret is in this response and
        never again (a hub88 provider gives its RSA `public_key` instead)."""
        params = s.ProviderCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = dict(params.validated_data)
        provider, secret = services.create_provider(
            code=data.pop("code"),
            name=data.pop("name"),
            currencies=data.pop("currencies"),
            actor=request.user,
            **data,
        )
        body = s.ProviderWithSecretSerializer(self.get_queryset().get(pk=provider.pk)).data
        body["secret"] = secret
        return Response(body, status=status.HTTP_201_CREATED)

    def _change_status(self, request, new_status, serializer_class=s.ReasonSerializer):
        params = serializer_class(data=request.data)
        params.is_valid(raise_exception=True)
        services.change_provider_status(
            provider=self.get_object(),
            status=new_status,
            reason=params.validated_data["reason"],
            actor=request.user,
            kill_open_sessions=params.validated_data.get("kill_open_sessions", False),
        )
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(request=s.SuspendSerializer, responses=s.ProviderSerializer)
    @action(detail=True, methods=["post"])
    def suspend(self, request, code=None):
        """No new sessions and no bets; wins, rollbacks and round closes still accepted."""
        return self._change_status(request, ProviderStatus.SUSPENDED, s.SuspendSerializer)

    @extend_schema(request=s.ReasonSerializer, responses=s.ProviderSerializer)
    @action(detail=True, methods=["post"])
    def restrict(self, request, code=None):
        """No new sessions; open sessions play on."""
        return self._change_status(request, ProviderStatus.RESTRICTED)

    @extend_schema(request=s.ReasonSerializer, responses=s.ProviderSerializer)
    @action(detail=True, methods=["post"])
    def restore(self, request, code=None):
        return self._change_status(request, ProviderStatus.ACTIVE)

    @extend_schema(request=s.OptionalReasonSerializer, responses=s.SecretSerializer)
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, code=None):
        """Issue a new secret (shown once); old ones keep working for the overlap window."""
        params = s.OptionalReasonSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        secret = services.rotate_provider_secret(
            provider=self.get_object(), actor=request.user, reason=params.validated_data["reason"]
        )
        return Response({"secret": secret, "fingerprint": crypto.secret_fingerprint(secret)})

    @extend_schema(request=s.CredentialAddSerializer, responses={201: s.CredentialSerializer})
    @action(detail=True, methods=["post"], url_path="credentials")
    def add_credential(self, request, code=None):
        """Add an Ed25519 public key; the provider signs `<ts>.<body>` with its private key and
        sends the hex signature as X-Signature. The operator stores no secret."""
        params = s.CredentialAddSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        credential = services.add_provider_credential(
            provider=self.get_object(),
            public_key=params.validated_data["public_key"],
            expires_at=params.validated_data["expires_at"],
            reason=params.validated_data["reason"],
            actor=request.user,
        )
        return Response(s.CredentialSerializer(credential).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ReasonSerializer, responses=s.CredentialSerializer)
    @action(
        detail=True,
        methods=["post"],
        url_path=r"credentials/(?P<fingerprint>[0-9a-f]{1,16})/revoke",
    )
    def revoke_credential(self, request, code=None, fingerprint=None):
        """Revoke one credential now (by fingerprint), with a reason."""
        params = s.ReasonSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        credential = services.revoke_provider_credential(
            provider=self.get_object(),
            fingerprint=fingerprint,
            reason=params.validated_data["reason"],
            actor=request.user,
        )
        return Response(s.CredentialSerializer(credential).data)


class PlayerViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.PlayerSerializer
    queryset = Player.objects.prefetch_related("wallets")
    filterset_class = filters.PlayerFilterSet
    search_fields = ["external_id"]
    ordering_fields = ["id", "created_at", "external_id"]

    @extend_schema(request=s.PlayerCreateSerializer, responses={201: s.PlayerSerializer})
    def create(self, request):
        params = s.PlayerCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        player = services.create_player(**params.validated_data)
        return Response(
            s.PlayerSerializer(self.get_queryset().get(pk=player.pk)).data,
            status=status.HTTP_201_CREATED,
        )


class _PaymentView(APIView):
    required_permissions = ["wallets.post_payment"]
    operation = None  # ledger.deposit or ledger.withdraw

    # 201: recorded now; 200: a replay of the same external_id and payload (`duplicate` true).
    @extend_schema(
        request=s.PaymentSerializer,
        responses={201: s.TransactionSerializer, 200: s.TransactionSerializer},
    )
    def post(self, request):
        params = s.PaymentSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        amount = parse_amount(data["amount"], data["currency"])
        context = ledger.CallContext(client_ip=data["ip"], request_id=request.request_id)
        try:
            result = type(self).operation(
                player=data["player"],
                currency=data["currency"],
                amount_minor=amount.minor,
                external_id=data["external_id"],
                context=context,
                payment_fingerprint=data["payment_fingerprint"],
            )
        except DuplicateMismatch as error:
            # The ledger names the provider API's key; a payment's key is its external_id.
            error.field = "external_id"
            raise
        body = s.TransactionSerializer(
            result.transaction, context={"duplicate": result.duplicate}
        ).data
        return Response(body, status=status.HTTP_200_OK if result.duplicate else 201)


class DepositView(_PaymentView):
    """Credit a deposit from the payment gateway. Idempotent on external_id; may be held."""

    operation = staticmethod(ledger.deposit)


class WithdrawalView(_PaymentView):
    """Pay out a withdrawal. Idempotent on external_id; needs available funds; may be held."""

    operation = staticmethod(ledger.withdraw)


class SessionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.SessionSerializer
    queryset = GameSession.objects.select_related("provider")
    filterset_class = filters.SessionFilterSet
    ordering_fields = ["id", "created_at", "last_activity_at", "reserved_minor"]
    action_permissions = {"close": ["wallets.close_game_session"]}

    @extend_schema(request=s.SessionCreateSerializer, responses={201: s.SessionWithTokenSerializer})
    def create(self, request):
        """Launch a game: returns the session with its token (shown only here)."""
        params = s.SessionCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        buy_in_minor = 0
        if data.get("buy_in") is not None:
            buy_in_minor = parse_amount(data["buy_in"], data["currency"], field="buy_in").minor
        session, token = ledger.open_session(
            player=data["player"],
            provider=data["provider"],
            currency=data["currency"],
            game_id=data["game_id"],
            buy_in_minor=buy_in_minor,
        )
        body = s.SessionWithTokenSerializer(self.get_queryset().get(pk=session.pk)).data
        body["session_token"] = token
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ReasonSerializer, responses=s.SessionSerializer)
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        """Close an open session by hand, releasing its reservation; audited."""
        params = s.ReasonSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        session = services.close_session_by_staff(
            session=self.get_object(), reason=params.validated_data["reason"], actor=request.user
        )
        return Response(s.SessionSerializer(session).data)

    @extend_schema(responses=s.SessionFiguresSerializer)
    @action(detail=False, methods=["get"])
    def figures(self, request):
        """Per provider: open sessions (and per player), orphaned sessions and what they
        reserve, graceful vs abandoned endings, average duration; top players by open
        sessions. `?window_hours=` (default 24) sets the window of ended sessions."""
        try:
            window_hours = int(request.query_params.get("window_hours", 24))
        except ValueError:
            window_hours = 0
        if not 1 <= window_hours <= 24 * 31:
            raise ValidationFailed("window_hours must be 1 to 744", field="window_hours")
        return Response(
            {
                "window_hours": window_hours,
                "providers": [
                    figures.as_dict()
                    for figures in selectors.session_figures(window_hours=window_hours)
                ],
                "top_players": selectors.open_sessions_per_player(),
            }
        )


class TransactionViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.TransactionSerializer
    queryset = Transaction.objects.select_related("provider")
    filterset_class = filters.TransactionFilterSet
    ordering_fields = ["id", "created_at", "amount_minor"]


class AuditRecordViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.AuditRecordSerializer
    queryset = AuditRecord.objects.all()
    filterset_class = filters.AuditRecordFilterSet
    ordering_fields = ["at", "id"]
    action_permissions = {"export": ["wallets.view_auditrecord"]}

    @extend_schema(responses={(200, "text/csv"): bytes})
    @action(
        detail=False,
        methods=["get"],
        url_path="export.csv",
        renderer_classes=[SafeJSONRenderer, _CsvRenderer],
    )
    def export(self, request):
        """The audit records matching the list's filters, as CSV, streamed (no pagination)."""
        return audit_csv_response(self.filter_queryset(self.get_queryset()))
