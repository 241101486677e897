"""Admin for the core: what a support agent, compliance officer or back-office user needs.

Ledger rows, wallets, rounds, credentials and audit records are read-only here: money moves only
through wallets.ledger, and status changes only through services (admin actions with a reason).
"""

import contextlib
import ipaddress
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.postgres.forms import SimpleArrayField
from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import smart_split, unescape_string_literal

from wallets import crypto, hooks, selectors, services, shown_once
from wallets.admin_actions import ReadOnlyAdminMixin, ReasonForm, reason_action
from wallets.admin_display import STYLE, MoneyFieldsMixin, audit_history, before_after_table
from wallets.admin_filters import attention_filter, indexed_values_filter
from wallets.admin_object_actions import ObjectAction, ObjectActionsMixin
from wallets.api.pagination import LeanCountPaginator
from wallets.choices import PlayerStatus, ProviderStatus, SessionStatus
from wallets.filtersets import transaction_external_id_q
from wallets.models import (
    AuditRecord,
    GameSession,
    Player,
    Provider,
    ProviderCredential,
    Round,
    SessionCleanupRun,
    SessionCleanupStat,
    Transaction,
    Wallet,
)
from wallets.money import display_amount
from wallets.validators import validate_currency, validate_ip_network


def _money(minor, currency, *, signed: bool = False):
    return display_amount(minor, currency, signed=signed)


# --- providers ------------------------------------------------------------------------------


class CredentialInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ProviderCredential
    fields = ["kind", "fingerprint", "created_at", "expires_at", "revoked_at", "last_used_at"]
    readonly_fields = fields
    extra = 0


def _set_provider_status(new_status):
    def apply(request, provider, reason):
        services.change_provider_status(
            provider=provider, status=new_status, reason=reason, actor=request.user
        )

    return apply


class CredentialAddForm(forms.ModelForm):
    public_key = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "cols": 70}),
        help_text="Ed25519 public key: 32 raw bytes as hex or base64, or PEM. "
        "The provider keeps the private key; the operator stores no secret.",
    )
    reason = forms.CharField(max_length=500, required=False)

    class Meta:
        model = ProviderCredential
        fields = ["provider", "expires_at"]

    def clean_public_key(self):
        try:
            return crypto.parse_ed25519_public_key(self.cleaned_data["public_key"])
        except ValueError as error:
            raise forms.ValidationError(str(error)) from None


@admin.register(ProviderCredential)
class ProviderCredentialAdmin(admin.ModelAdmin):
    """Credentials: add an Ed25519 public key, revoke (with a reason). Secrets are never shown;
    HMAC secrets are issued by creating or rotating a provider."""

    list_display = ["provider", "kind", "fingerprint", "created_at", "expires_at", "revoked_at",
                    "last_used_at"]  # fmt: skip
    list_filter = ["kind", "provider"]
    search_fields = ["provider__code", "fingerprint"]
    list_select_related = ["provider"]
    readonly_fields = ["provider", "kind", "fingerprint", "public_key", "created_at",
                       "expires_at", "revoked_at", "last_used_at"]  # fmt: skip
    actions = [
        reason_action(
            name="revoke_credentials",
            description="Revoke: calls signed with it are refused at once",
            permission="manage",
            apply=lambda request, credential, reason: services.revoke_provider_credential(
                provider=credential.provider,
                fingerprint=credential.fingerprint,
                reason=reason,
                actor=request.user,
            ),
        )
    ]

    def has_manage_permission(self, request):
        return request.user.has_perm("wallets.manage_provider_credentials")

    def has_add_permission(self, request):
        return self.has_manage_permission(request)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = CredentialAddForm
            kwargs["fields"] = ["provider", "expires_at"]  # + the form's own key and reason
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else []

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ["provider", "public_key", "expires_at", "reason"]})]
        return super().get_fieldsets(request, obj)

    def save_model(self, request, obj, form, change):
        credential = services.add_provider_credential(
            provider=form.cleaned_data["provider"],
            public_key=form.cleaned_data["public_key"],
            expires_at=form.cleaned_data.get("expires_at"),
            reason=form.cleaned_data.get("reason", ""),
            actor=request.user,
        )
        obj.pk = credential.pk
        obj.refresh_from_db()


class ProviderForm(forms.ModelForm):
    """Currencies and the IP allowlist checked by the same validators as the API's
    (wallets.validators): a value one refuses, the other refuses with the same words."""

    currencies = SimpleArrayField(
        forms.CharField(max_length=3, validators=[validate_currency]),
        help_text="ISO 4217 codes in capitals, separated by commas: EUR,USD",
    )
    ip_allowlist = SimpleArrayField(
        forms.CharField(max_length=64, validators=[validate_ip_network]),
        required=False,
        help_text="Addresses or networks (CIDR) allowed to call, separated by commas; "
        "empty allows any.",
    )

    class Meta:
        model = Provider
        fields = [
            "code", "name", "currencies", "ip_allowlist", "rounding_mode",
            "idle_timeout_seconds", "round_timeout_seconds", "max_sessions_per_player",
            "open_round_policy",
        ]  # fmt: skip


class SuspendProviderForm(ReasonForm):
    end_open_sessions = forms.BooleanField(
        required=False,
        label="Also end its open sessions",
        help_text="Each open session ends (killed, provider suspension) and its reserved buy-in "
        "returns to the player, as the API's kill_open_sessions does.",
    )

    def __init__(self, *args, open_sessions: int = 0, reserved: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["end_open_sessions"]
        field.label = f"Also end its {open_sessions} open session(s)"
        if reserved:
            field.label += f", returning {reserved} of buy-ins"


def _open_sessions_of(provider):
    sessions = GameSession.objects.filter(provider=provider, status=SessionStatus.OPEN)
    reserved = (
        sessions.filter(reserved_minor__gt=0)
        .values("currency")
        .annotate(total=Sum("reserved_minor"))
        .order_by("currency")
    )
    return {
        "open_sessions": sessions.count(),
        "reserved": ", ".join(_money(row["total"], row["currency"]) for row in reserved),
    }


def _provider_facts(provider):
    sessions = _open_sessions_of(provider)
    since = timezone.localtime(provider.status_changed_at or provider.created_at)
    return [
        ("status", f"{provider.status} since {since:%Y-%m-%d %H:%M}"),
        ("last reason", provider.status_reason or "-"),
        ("open sessions", sessions["open_sessions"]),
        ("their reserved buy-ins", sessions["reserved"] or "none"),
    ]


def _suspend_from_page(request, provider, cleaned):
    end_sessions = cleaned["end_open_sessions"]
    count = _open_sessions_of(provider)["open_sessions"] if end_sessions else 0
    services.change_provider_status(
        provider=provider,
        status=ProviderStatus.SUSPENDED,
        reason=cleaned["reason"],
        actor=request.user,
        kill_open_sessions=end_sessions,
    )
    ended = f"; {count} open session(s) ended, their buy-ins released" if end_sessions else ""
    return f"{provider.code} is suspended{ended}."


def _status_from_page(new_status):
    def apply(request, provider, cleaned):
        services.change_provider_status(
            provider=provider, status=new_status, reason=cleaned["reason"], actor=request.user
        )
        return f"{provider.code} is {new_status}."

    return apply


@admin.register(Provider)
class ProviderAdmin(ObjectActionsMixin, admin.ModelAdmin):
    form = ProviderForm
    list_display = [
        "code",
        "name",
        "status_badge",
        "currency_list",
        "open_sessions",
        "idle_timeout_seconds",
        "max_sessions_per_player",
        "status_changed_at",
    ]
    list_filter = ["status", "open_round_policy"]
    search_fields = ["code", "name"]
    inlines = [CredentialInline]
    readonly_fields = ["status", "status_reason", "status_changed_at", "created_at"]
    fieldsets = [
        (None, {"fields": ["code", "name", "currencies", "created_at"]}),
        ("Status", {"fields": ["status", "status_reason", "status_changed_at"]}),
        ("Access", {"fields": ["ip_allowlist", "rounding_mode"]}),
        (
            "Sessions",
            {
                "fields": [
                    "idle_timeout_seconds",
                    "round_timeout_seconds",
                    "max_sessions_per_player",
                    "open_round_policy",
                ]
            },
        ),
    ]
    actions = [
        reason_action(
            name="suspend_providers",
            description="Suspend: no new sessions, no bets",
            permission="change_status",
            apply=_set_provider_status(ProviderStatus.SUSPENDED),
            confirm="Players of a suspended provider cannot bet; wins and refunds still arrive.",
        ),
        reason_action(
            name="restrict_providers",
            description="Restrict: no new sessions",
            permission="change_status",
            apply=_set_provider_status(ProviderStatus.RESTRICTED),
        ),
        reason_action(
            name="restore_providers",
            description="Restore to active",
            permission="change_status",
            apply=_set_provider_status(ProviderStatus.ACTIVE),
        ),
        "rotate_secret",
    ]
    object_actions = [
        ObjectAction(
            name="suspend",
            label="Suspend",
            permission="change_status",
            form=SuspendProviderForm,
            form_kwargs=_open_sessions_of,
            facts=_provider_facts,
            apply=_suspend_from_page,
            available=lambda p: p.status != ProviderStatus.SUSPENDED,
            danger=True,
            explain="No new sessions and no bets; wins, refunds and round closes still arrive so "
            "that players are paid what they won. Audited with your reason.",
        ),
        ObjectAction(
            name="restrict",
            label="Restrict",
            permission="change_status",
            apply=_status_from_page(ProviderStatus.RESTRICTED),
            facts=_provider_facts,
            available=lambda p: p.status != ProviderStatus.RESTRICTED,
            explain="No new sessions; open ones play on. Audited with your reason.",
        ),
        ObjectAction(
            name="restore",
            label="Restore to active",
            permission="change_status",
            apply=_status_from_page(ProviderStatus.ACTIVE),
            facts=_provider_facts,
            available=lambda p: p.status != ProviderStatus.ACTIVE,
            explain="New sessions and bets are accepted again. Audited with your reason.",
        ),
    ]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(open_session_count=Count("sessions", filter=Q(sessions__status="open")))
        )

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields + (["code"] if obj else [])

    @admin.display(description="open sessions", ordering="open_session_count")
    def open_sessions(self, provider):
        return provider.open_session_count

    @admin.display(description="currencies")
    def currency_list(self, provider):
        return ", ".join(provider.currencies)

    @admin.display(description="status", ordering="status")
    def status_badge(self, provider):
        colour = {"active": "#2e7d32", "restricted": "#ef6c00", "suspended": "#c62828"}
        return format_html(
            '<b style="color:{}">{}</b>', colour.get(provider.status, "#555"), provider.status
        )

    def has_change_status_permission(self, request):
        return request.user.has_perm("wallets.change_provider_status")

    def has_rotate_secret_permission(self, request):
        return request.user.has_perm("wallets.rotate_provider_secret")

    @admin.action(description="Rotate the wallet API secret", permissions=["rotate_secret"])
    def rotate_secret(self, request, queryset):
        for provider in queryset:
            secret = services.rotate_provider_secret(provider=provider, actor=request.user)
            shown_once.keep_to_show_once(
                request, label=f"New wallet API secret for {provider.code}", secret=secret
            )
        self.message_user(
            request,
            f"New secrets issued for {queryset.count()} provider(s). The previous secrets keep "
            "working for the rotation overlap window.",
            messages.WARNING,
        )

    def save_model(self, request, obj, form, change):
        if change:
            before = {name: form.initial.get(name) for name in form.changed_data}
            super().save_model(request, obj, form, change)
            if form.changed_data:
                services.record_audit(
                    actor=request.user,
                    action="provider.settings",
                    target=obj,
                    before={k: str(v) for k, v in before.items()},
                    after={name: str(getattr(obj, name)) for name in form.changed_data},
                )
            return
        settings_fields = {
            name: form.cleaned_data[name]
            for name in form.cleaned_data
            if name not in {"code", "name", "currencies"}
        }
        provider, secret = services.create_provider(
            code=form.cleaned_data["code"],
            name=form.cleaned_data["name"],
            currencies=form.cleaned_data["currencies"],
            actor=request.user,
            **settings_fields,
        )
        obj.pk = provider.pk
        obj.refresh_from_db()
        shown_once.keep_to_show_once(
            request, label=f"Wallet API secret for {provider.code}", secret=secret
        )


# --- players and wallets --------------------------------------------------------------------


class WalletInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Wallet
    fields = ["currency", "balance", "reserved", "available", "updated_at"]
    readonly_fields = fields
    extra = 0

    @admin.display(description="balance")
    def balance(self, wallet):
        return _money(wallet.balance_minor, wallet.currency)

    @admin.display(description="reserved")
    def reserved(self, wallet):
        return _money(wallet.reserved_minor, wallet.currency)

    @admin.display(description="available")
    def available(self, wallet):
        return _money(wallet.available_minor, wallet.currency)


class OpenSessionInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = GameSession
    fk_name = "player"
    verbose_name_plural = "open sessions and what they reserve"
    fields = ["id", "provider", "game_id", "currency", "reserved", "last_activity_at"]
    readonly_fields = fields
    extra = 0
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).filter(status="open").select_related("provider")

    @admin.display(description="reserved")
    def reserved(self, session):
        return _money(session.reserved_minor, session.currency)


def _set_player_status(new_status):
    def apply(request, player, reason):
        services.set_player_status(
            player=player, status=new_status, reason=reason, actor=request.user
        )

    return apply


def search_words(search_term: str):
    """The words of an admin search, as Django's search splits them (a quoted phrase is one
    word), empty ones left out."""
    for word in smart_split(search_term):
        if word[:1] in ('"', "'") and word[-1:] == word[:1]:
            word = unescape_string_literal(word)
        if word:
            yield word


def search_row_id(word: str) -> int | None:
    """The word as a row id (a bigint), or None."""
    return int(word) if word.isdigit() and int(word) < 2**63 else None


@admin.register(Player)
class PlayerAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "external_id",
        "currency",
        "country",
        "status",
        "registration_ip",
        "created_at",
    ]
    list_display_links = ["id", "external_id"]
    list_filter = ["status", "currency", "country"]
    search_fields = ["=id", "external_id", "=registration_ip"]
    search_help_text = (
        "A player's internal id (exact, e.g. 42), their external id (or part of it, e.g. "
        "p-42), or a registration IP address (exact)."
    )
    paginator = LeanCountPaginator
    readonly_fields = ["status", "status_reason", "created_at"]
    inlines = [WalletInline, OpenSessionInline]

    def get_search_results(self, request, queryset, search_term):
        """Each word is the player's id (exact), part of their external id, or their
        registration address (exact); words are AND-ed, as in Django's search. Written as
        index lookups (the external id's trigram index among them): Django's own search
        compares every player's id and address as upper-cased text."""
        for word in search_words(search_term):
            match = Q(external_id__icontains=word)
            if (row_id := search_row_id(word)) is not None:
                match |= Q(pk=row_id)
            with contextlib.suppress(ValueError):  # unless not an address
                match |= Q(registration_ip=str(ipaddress.ip_address(word)))
            queryset = queryset.filter(match)
        return queryset, False

    actions = [
        reason_action(
            name="block_players",
            description="Block: the player may not play",
            permission="block",
            apply=_set_player_status(PlayerStatus.BLOCKED),
        ),
        reason_action(
            name="unblock_players",
            description="Unblock",
            permission="block",
            apply=_set_player_status(PlayerStatus.ACTIVE),
        ),
    ]

    def has_block_permission(self, request):
        return request.user.has_perm("wallets.block_player")

    def get_inlines(self, request, obj):
        # Other apps' sections of the player's page (wallets.hooks.player_page_inlines).
        return [*self.inlines, *(hooks.player_page_inlines if obj is not None else [])]

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields + (["external_id", "currency"] if obj else [])

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        player = services.create_player(
            external_id=obj.external_id,
            currency=obj.currency,
            country=obj.country,
            registration_ip=obj.registration_ip,
        )
        obj.pk = player.pk
        obj.refresh_from_db()


@admin.register(Wallet)
class WalletAdmin(MoneyFieldsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["player", "currency", "balance", "reserved", "available", "updated_at"]
    list_filter = ["currency"]
    search_fields = ["player__external_id"]
    list_select_related = ["player"]
    show_full_result_count = False
    paginator = LeanCountPaginator

    @admin.display(description="balance", ordering="balance_minor")
    def balance(self, wallet):
        return _money(wallet.balance_minor, wallet.currency)

    @admin.display(description="reserved", ordering="reserved_minor")
    def reserved(self, wallet):
        return _money(wallet.reserved_minor, wallet.currency)

    @admin.display(description="available")
    def available(self, wallet):
        return _money(wallet.available_minor, wallet.currency)


# --- sessions and rounds --------------------------------------------------------------------


class IdleForFilter(admin.SimpleListFilter):
    title = "idle for more than"
    parameter_name = "idle_minutes"

    def lookups(self, request, model_admin):
        return [("5", "5 minutes"), ("30", "30 minutes"), ("60", "1 hour"), ("240", "4 hours")]

    def queryset(self, request, queryset):
        if self.value() and self.value().isdigit():
            since = timezone.now() - timedelta(minutes=int(self.value()))
            return queryset.filter(last_activity_at__lt=since)
        return queryset


class HasReservationFilter(admin.SimpleListFilter):
    title = "has reservation"
    parameter_name = "has_reservation"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(reserved_minor__gt=0)
        if self.value() == "no":
            return queryset.filter(reserved_minor=0)
        return queryset


def _close_session(request, session, reason):
    services.close_session_by_staff(session=session, reason=reason, actor=request.user)


def _session_facts(session):
    open_rounds = session.rounds.filter(status="open").count()
    return [
        ("player", f"{session.player} (id {session.player_id})"),
        ("provider and game", f"{session.provider.code}, {session.game_id or '-'}"),
        ("opened", timezone.localtime(session.created_at).strftime("%Y-%m-%d %H:%M")),
        ("last activity", timezone.localtime(session.last_activity_at).strftime("%Y-%m-%d %H:%M")),
        ("reserved buy-in", _money(session.reserved_minor, session.currency)),
        ("open rounds (left as they are)", open_rounds),
    ]


def _end_session_from_page(request, session, cleaned):
    reserved = session.reserved_minor
    ended = services.close_session_by_staff(
        session=session, reason=cleaned["reason"], actor=request.user
    )
    released = f"; {_money(reserved, ended.currency)} returned to the player" if reserved else ""
    return f"Session {ended.pk} ended{released}."


@admin.register(GameSession)
class GameSessionAdmin(ObjectActionsMixin, MoneyFieldsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "player",
        "provider",
        "game_id",
        "status",
        "reserved",
        "last_activity_at",
        "idle",
        "end_reason",
    ]
    list_filter = [
        "status",
        "provider",
        attention_filter(
            parameter="orphaned",
            title="orphaned",
            choice="Idle past their provider's timeout",
            selector=selectors.orphaned_sessions,
        ),
        IdleForFilter,
        HasReservationFilter,
        "end_reason",
    ]
    search_fields = ["=id", "=player__id", "player__external_id", "game_id"]
    search_help_text = "A session id, a player's internal or external id, or a game id."
    list_select_related = ["player", "provider"]
    show_full_result_count = False
    exclude = ["token_hash"]
    paginator = LeanCountPaginator
    actions = [
        reason_action(
            name="close_sessions",
            description="Close selected sessions (release reservations)",
            permission="close",
            apply=_close_session,
            confirm="Open rounds stay as they are; reserved buy-ins return to the players.",
        )
    ]
    object_actions = [
        ObjectAction(
            name="end",
            label="End session and release",
            permission="close",
            apply=_end_session_from_page,
            facts=_session_facts,
            available=lambda session: session.status == SessionStatus.OPEN,
            danger=True,
            explain="The session ends now (killed by staff): the provider's next call with its "
            "token is refused, what is left of its buy-in returns to the player's available "
            "balance, open rounds stay as they are. Audited with your reason.",
        )
    ]

    def get_fields(self, request, obj=None):
        return [*super().get_fields(request, obj), "history"]

    @admin.display(description="who did what")
    def history(self, session):
        return format_html("{}{}", STYLE, audit_history(session, currency=session.currency))

    def has_close_permission(self, request):
        return request.user.has_perm("wallets.close_game_session")

    @admin.display(description="reserved", ordering="reserved_minor")
    def reserved(self, session):
        return _money(session.reserved_minor, session.currency)

    @admin.display(description="idle")
    def idle(self, session):
        if session.status != "open":
            return "-"
        minutes = int((timezone.now() - session.last_activity_at).total_seconds() // 60)
        return f"{minutes} min"


class FlaggedFilter(admin.SimpleListFilter):
    title = "flagged for support"
    parameter_name = "flagged"

    def lookups(self, request, model_admin):
        return [("yes", "Flagged (abandoned session, round timed out)"), ("no", "Not flagged")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(flagged_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(flagged_at__isnull=True)
        return queryset


@admin.register(Round)
class RoundAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "external_id",
        "provider",
        "player",
        "status",
        "has_bet",
        "opened_at",
        "flagged_at",
    ]
    list_filter = ["status", FlaggedFilter, "provider"]
    search_fields = ["external_id", "player__external_id"]
    list_select_related = ["provider", "player"]
    show_full_result_count = False
    paginator = LeanCountPaginator


class CleanupStatInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = SessionCleanupStat
    fields = [
        "provider",
        "sessions_expired",
        "sessions_abandoned",
        "reservations_released",
        "released",
        "rounds_refunded",
        "rounds_flagged",
    ]
    readonly_fields = fields
    extra = 0

    @admin.display(description="released")
    def released(self, stat):
        return (
            ", ".join(
                _money(minor, currency)
                for currency, minor in sorted((stat.released_minor or {}).items())
            )
            or "-"
        )


@admin.register(SessionCleanupRun)
class SessionCleanupRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "started_at",
        "duration_ms",
        "sessions_ended",
        "rounds_refunded",
        "rounds_flagged",
        "incomplete",
        "triggered_by",
    ]
    list_filter = ["incomplete", "triggered_by"]
    inlines = [CleanupStatInline]
    date_hierarchy = "started_at"


# --- ledger and audit -----------------------------------------------------------------------


class CurrencyFilter(admin.SimpleListFilter):
    """The ledger's currencies, read from the wallets (a ledger row is in its wallet's
    currency): Django's stock filter would read every ledger row for its DISTINCT."""

    title = "currency"
    parameter_name = "currency"

    def lookups(self, request, model_admin):
        currencies = Wallet.objects.order_by("currency").values_list("currency", flat=True)
        return [(code, code) for code in currencies.distinct()]

    def queryset(self, request, queryset):
        return queryset.filter(currency=self.value()) if self.value() else queryset


# A search term matching more players than this searches the players in SQL (a subquery),
# not as a list of ids.
SEARCH_PLAYERS_AS_LIST = 500


@admin.register(Transaction)
class TransactionAdmin(MoneyFieldsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Ten million rows and more: the page count is an estimate past 10,000 matching rows
    (LeanCountPaginator), the currency filter does not read the ledger, and a search is answered
    by indexes (see get_search_results)."""

    list_display = [
        "id",
        "created_at",
        "kind",
        "status",
        "player",
        "provider",
        "amount",
        "balance_after",
        "external_id",
        "processing_us",
    ]
    list_filter = ["kind", "status", "provider", CurrencyFilter]
    # Documents the search (shown as the search box); get_search_results implements it.
    search_fields = ["=id", "=external_id", "player__external_id", "=round_external_id"]
    list_select_related = ["player", "provider"]
    show_full_result_count = False
    paginator = LeanCountPaginator
    raw_id_fields = ["wallet", "player", "session", "round", "reference"]

    def get_search_results(self, request, queryset, search_term):
        """Each word of the search is the ledger row's id, its transaction id (exact), its
        round id (exact), or (part of) the player's external id; words are AND-ed, as in
        Django's search. Written as index lookups: Django's own OR of case-insensitive
        comparisons over a join reads the whole ledger."""
        for word in search_words(search_term):
            rows = transaction_external_id_q(word) | Q(round_external_id=word)
            if (row_id := search_row_id(word)) is not None:
                rows |= Q(pk=row_id)
            players = Player.objects.filter(external_id__icontains=word).values("pk")
            player_ids = list(players.values_list("pk", flat=True)[: SEARCH_PLAYERS_AS_LIST + 1])
            if len(player_ids) > SEARCH_PLAYERS_AS_LIST:
                of_players = Q(player_id__in=players)
            elif player_ids:
                of_players = Q(player_id__in=player_ids)
            else:
                queryset = queryset.filter(rows)
                continue
            # A word that names players and no row (the usual search for a player) is their
            # rows alone: a single player's are then read newest first from the player's index
            # in each month, where OR-ed with the id matches every row of the player's history
            # is fetched and sorted for one page.
            if Transaction.objects.filter(rows).exists():
                queryset = queryset.filter(rows | of_players)
            else:
                queryset = queryset.filter(of_players)
        return queryset, False

    @admin.display(description="amount", ordering="amount_minor")
    def amount(self, txn):
        return _money(txn.delta_minor, txn.currency, signed=True)

    @admin.display(description="balance after")
    def balance_after(self, txn):
        return _money(txn.balance_after_minor, txn.currency)


@admin.register(AuditRecord)
class AuditRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["at", "actor_label", "action", "target_type", "target_label", "reason"]
    # The values found by walking their indexes, the dates by probing `at`'s index
    # (AuditRecordQuerySet.datetimes), no total count: a page costs the same at any number of
    # records.
    list_filter = [indexed_values_filter("action"), indexed_values_filter("target_type")]
    search_fields = ["actor_label", "target_label", "=target_id", "reason"]
    paginator = LeanCountPaginator
    show_full_result_count = False
    date_hierarchy = "at"
    actions = ["export_csv"]
    fields = ["at", "actor", "actor_label", "action", "target_type", "target_id", "target_label",
              "reason", "change"]  # fmt: skip
    readonly_fields = ["change"]

    @admin.display(description="before and after")
    def change(self, record):
        return format_html("{}{}", STYLE, before_after_table(record.before, record.after))

    @admin.action(description="Export the selected records as CSV", permissions=["view"])
    def export_csv(self, request, queryset):
        from wallets.api.views import audit_csv_response

        return audit_csv_response(queryset.order_by("-at", "-id"))


# --- staff API tokens -----------------------------------------------------------------------------
# DRF's stock token admin lists every key, and titles each token page with it: bearer credentials
# on a page any token viewer can open. Here a token is named by its user only; keys are handed
# out by `manage.py drf_create_token` (backoffice-api.md), never shown by the admin.
from rest_framework.authtoken.admin import TokenAdmin as _StockTokenAdmin  # noqa: E402
from rest_framework.authtoken.models import TokenProxy  # noqa: E402


class KeylessTokenAdmin(_StockTokenAdmin):
    list_display = ("user", "created")


def _token_label(token) -> str:
    return f"API token of {token.user}"


TokenProxy.__str__ = _token_label
if admin.site.is_registered(TokenProxy):
    admin.site.unregister(TokenProxy)
admin.site.register(TokenProxy, KeylessTokenAdmin)
