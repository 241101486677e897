"""Hypothesis against the admin, as a superuser over Django's test client: every ModelAdmin's
add and change form, the reason forms of its actions and its list filters get hostile values
(text with lone surrogates and NUL, huge and malformed numbers, impossible dates, deep and
repeated-key JSON, wrong types, odd uploads). Whatever is posted: no 5xx, and a refused post
(the form shown again, an error message, a 4xx) writes nothing: every row of the back office's
tables compares equal before and after it. Derandomized: a run is reproducible.

Bodies are multipart, encoded by hand: a lone surrogate goes out as its UTF-8-like bytes
(surrogatepass), as a browser or a script could send it (Django's test client refuses to encode
one)."""

from functools import partial
from html.parser import HTMLParser

import pytest
from django import forms
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import ERROR
from django.contrib.postgres.forms import SimpleArrayField
from django.test import Client
from django.urls import reverse
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from compliance import policies
from fraud import services as fraud_services
from monitoring.models import Silence
from reconciliation import services as reconciliation_services
from tests import factories
from tests.reliability.fuzzing import Fingerprint, make_world

pytestmark = pytest.mark.django_db(transaction=True)

FORM_EXAMPLES = 10
SMALL_EXAMPLES = 4
FIGURES = {"posts": 0, "refused": 0, "gets": 0, "forms": 0}

HOSTILE_TEXT = [
    "\ud800", "a\udfffb", "\x00", "a\x00b", "x" * 3000, "", " ", "-1", "0", "1e309", "NaN",
    "99999999999999999999999999999999", "-99999999999999999999", "9" * 400, "0x1F", "1_000",
    "<b>x</b>", "'\"", "\ufffd", "%00", "../../etc", "EUR", "eur", "1.5", "null", "[]", "{}",
    "true", "2026-02-30", "0000-00-00", "99999-12-31", "\u202e", "🎰",
]  # fmt: skip
HOSTILE_JSON = [
    "[" * 3000 + "]" * 3000, '{"a": ' * 40 + "1" + "}" * 40, '{"a": 1, "a": 2}',
    '{"a": "\\ud800"}', '{"\\ud800": 1}', '{"a": NaN}', '{"a": Infinity}', "1" * 5000,
    '{"a": 1e999999}', '{"a": 0.1}', '{"a": 12345678901234567890.123456789}', "[1, 2]",
    '"text"', '{"a": [1, {"b": null}]}', "{", '{"a": "x\\u0000y"}', '{"window_seconds": 1e2}',
    '{"max_withdrawals": 3}', "{}", "null",
]  # fmt: skip
DATES = ["2026-11-25", "9999-12-31", "0001-01-01", "2026-02-30", "1-1-1", "\ud800", "x", ""]
TIMES = ["10:00:00", "23:59:59", "24:00:00", "99:99", "\x00", "", "10:00:00.9999999"]

texts = st.one_of(
    st.sampled_from(HOSTILE_TEXT),
    st.text(st.characters(categories=["L", "N", "P", "S", "Zs", "Cc", "Cs"]), max_size=40),
)
numbers = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.sampled_from(["2147483647", "2147483648", "9223372036854775808", "-0", "1.0", "1e3"]),
    texts,
)
json_texts = st.one_of(st.sampled_from(HOSTILE_JSON), texts)
UPLOADS = [
    ("r.json", b"[" * 100_000 + b"]" * 100_000),
    ("r.jsonl", b'{"a": ' * 50_000 + b"1" + b"}" * 50_000),
    ("r.json", b'[{"transaction_id": "t", "transaction_id": "u"}, {"amount": NaN}]'),
    ("r.csv", b"transaction_id,player,kind,amount,amount,currency,status,time\n"),
    ("r.csv", b"\xff\xfe\x00garbage\n,,,\n"),
    ("r.csv", b""),
    ("\udcff.csv", b"transaction_id\n"),
    ("r.txt", b"\x00" * 100),
]


def uploads():
    return st.one_of(
        st.sampled_from(UPLOADS),
        st.tuples(st.sampled_from(["r.csv", "r.json", "r.jsonl", "x"]), st.binary(max_size=200)),
    )


# --- what a browser would post ------------------------------------------------------------------


class _FormControls(HTMLParser):
    """The controls of the page's admin form (id ending in `_form`) as a browser submits them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.in_form = False
        self.fields: list[tuple[str, str]] = []
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and (attrs.get("id") or "").endswith("_form"):
            self.in_form = True
        if not self.in_form:
            return
        name = attrs.get("name")
        if tag == "input" and name:
            kind = (attrs.get("type") or "text").lower()
            if kind in {"checkbox", "radio"}:
                if "checked" in attrs:
                    self.fields.append((name, attrs.get("value") or "on"))
            elif kind not in {"file", "submit", "button", "image", "reset"}:
                self.fields.append((name, attrs.get("value") or ""))
        elif tag == "select" and name:
            self._select, self._options = name, []
        elif tag == "option" and self._select is not None:
            self._options.append((attrs.get("value") or "", "selected" in attrs))
        elif tag == "textarea" and name:
            self._textarea, self._text = name, ""

    def handle_data(self, data):
        if self._textarea is not None:
            self._text += data

    def handle_endtag(self, tag):
        if tag == "form" and self.in_form:
            self.in_form = False
        elif tag == "select" and self._select is not None:
            chosen = [value for value, selected in self._options if selected]
            for value in chosen or [v for v, _ in self._options[:1]]:
                self.fields.append((self._select, value))
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self.fields.append((self._textarea, self._text.lstrip("\n")))
            self._textarea = None


def page_controls(html: str) -> list[tuple[str, str]]:
    parser = _FormControls()
    parser.feed(html)
    return parser.fields


BOUNDARY = "pitboss-fuzz-boundary-7e3f"


def _raw(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def multipart(fields: list[tuple[str, object]]) -> bytes:
    """A multipart body; values are text or (filename, bytes)."""
    out = []
    for name, value in fields:
        head = b'Content-Disposition: form-data; name="' + _raw(name) + b'"'
        if isinstance(value, tuple):
            filename, content = value
            head += b'; filename="' + _raw(filename).replace(b'"', b"") + b'"'
            head += b"\r\nContent-Type: application/octet-stream"
            body = content
        else:
            body = _raw(value)
        out.append(b"--" + BOUNDARY.encode() + b"\r\n" + head + b"\r\n\r\n" + body + b"\r\n")
    out.append(b"--" + BOUNDARY.encode() + b"--\r\n")
    return b"".join(out)


def post(client: Client, url: str, fields: list[tuple[str, object]]):
    response = client.post(
        url, data=multipart(fields), content_type=f"multipart/form-data; boundary={BOUNDARY}"
    )
    client.cookies.pop("messages", None)  # unread messages would pile up in the cookie
    return response


def refused(response) -> bool:
    """The post changed nothing by design: the form shown again, a 4xx, or an error message."""
    if response.status_code != 302:
        return True
    storage = getattr(response.wsgi_request, "_messages", None)
    queued = getattr(storage, "_queued_messages", [])
    return any(message.level >= ERROR for message in queued)


# --- values per kind of form field --------------------------------------------------------------


def values_for(field: forms.Field, options: list[str]) -> st.SearchStrategy:
    """Hostile values for one form field (a list of [suffix, value] for multi-widget fields)."""
    if isinstance(field, forms.SplitDateTimeField):
        return st.tuples(st.sampled_from(DATES) | texts, st.sampled_from(TIMES) | texts)
    if isinstance(field, forms.FileField):
        return uploads()
    if isinstance(field, forms.JSONField):
        return json_texts
    if isinstance(field, SimpleArrayField):
        return st.one_of(texts, st.lists(texts, max_size=4).map(",".join))
    if isinstance(field, forms.IntegerField | forms.DecimalField | forms.FloatField):
        return numbers
    if isinstance(field, forms.DurationField):
        return st.one_of(st.sampled_from(["999999999 00:00:00", "1 00:00:00", "-1"]), numbers)
    if isinstance(field, forms.DateTimeField | forms.DateField | forms.TimeField):
        return st.one_of(st.sampled_from(DATES + TIMES + ["9999-12-31 23:59:59"]), texts)
    if isinstance(field, forms.BooleanField | forms.NullBooleanField):
        return st.sampled_from(["on", "", "true", "false", "unknown", "\ud800", "2"])
    if isinstance(field, forms.ChoiceField | forms.ModelChoiceField):
        choices = [str(value) for value, _ in field.choices if str(value)][:50]
        return st.one_of(st.sampled_from(options + choices or [""]), numbers)
    return texts


# The worst values of each kind, posted to every field of a form at once (three posts per form)
# before the random ones: each field's cleaning meets each of them at least once.
WORST = {
    "json": ["[" * 3000 + "]" * 3000, '{"a": NaN, "a": 1e999999}', '{"\\ud800": "x\\u0000"}'],
    "text": ["\ud800", "a\x00b", "x" * 3000],
    "number": ["9" * 40, "-1", "1e309"],
    "choice": ["\x00", "9" * 30, "\ud800"],
    "datetime": [("9999-12-31", "23:59:59"), ("0001-01-01", "99:99"), ("\x00", "\ud800")],
    "bool": ["\ud800", "on", ""],
    "file": UPLOADS[:3],
}


def worst_kind(field: forms.Field) -> str:
    if isinstance(field, forms.SplitDateTimeField):
        return "datetime"
    if isinstance(field, forms.FileField):
        return "file"
    if isinstance(field, forms.JSONField):
        return "json"
    if isinstance(field, forms.IntegerField | forms.DecimalField | forms.FloatField):
        return "number"
    if isinstance(field, forms.BooleanField | forms.NullBooleanField):
        return "bool"
    if isinstance(field, forms.ChoiceField | forms.ModelChoiceField):
        return "choice"
    return "text"


def worst_posts(base: list, form_fields: dict) -> list[list]:
    fields = fuzzed_fields(form_fields)
    posts = []
    for index in range(3):
        replaced: dict[str, object] = {}
        for name, field in fields.items():
            value = WORST[worst_kind(field)][index]
            if isinstance(field, forms.SplitDateTimeField):
                replaced[f"{name}_0"], replaced[f"{name}_1"] = value
            else:
                replaced[name] = value
        posts.append([(n, v) for n, v in base if n not in replaced] + list(replaced.items()))
    return posts


def fuzzed_fields(form_fields: dict) -> dict:
    """name -> field for the fields a post may change (editable ones of the main form)."""
    return {name: field for name, field in form_fields.items() if not field.disabled}


def form_post_strategy(base: list, form_fields: dict):
    """Posts: the page's own values, some fields replaced by hostile ones."""
    options: dict[str, list[str]] = {}
    for name, value in base:
        options.setdefault(name, []).append(value)
    fields = fuzzed_fields(form_fields)

    @st.composite
    def posts(draw):
        chosen = draw(st.lists(st.sampled_from(sorted(fields)), min_size=1, unique=True))
        replaced: dict[str, object] = {}
        for name in chosen:
            value = draw(values_for(fields[name], options.get(name, [])))
            if isinstance(fields[name], forms.SplitDateTimeField):
                replaced[f"{name}_0"], replaced[f"{name}_1"] = value
            else:
                replaced[name] = value
        kept = [(n, v) for n, v in base if n not in replaced]
        return kept + list(replaced.items())

    return posts()


def run(strategy, check, examples: int) -> None:
    @given(strategy)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(value):
        check(value)

    fuzz()


# --- the world and the walk ---------------------------------------------------------------------


def objects_to_change(world: dict, acting_user) -> dict:
    """The object whose change form is fuzzed, per model (never the acting user)."""
    interval = IntervalSchedule.objects.create(every=5, period=IntervalSchedule.MINUTES)
    PeriodicTask.objects.create(name="fuzz", task="fuzz.task", interval=interval)
    victim = factories.UserFactory(groups=["support"])
    fraud_services.ensure_default_rules()
    reconciliation_services.propose_correction(
        discrepancy=world["discrepancy"], actor=victim, reason="provider is right", delta_minor=1_00
    )
    Silence.objects.create(
        starts_at=world["alert"].started_at, ends_at=world["alert"].last_seen_at, reason="x"
    )
    return {"auth.User": victim, "compliance.GlobalSecurityPolicy": policies.global_policy()}


def test_no_admin_form_filter_or_action_answers_5xx_and_refusals_write_nothing():
    staff = factories.UserFactory(is_superuser=True, is_staff=True)
    client = Client(raise_request_exception=False)
    client.force_login(staff)
    world = make_world()
    chosen = objects_to_change(world, staff)
    fingerprint = Fingerprint()
    failures: dict[str, str] = {}

    def checked_post(where: str, url: str, fields: list):
        FIGURES["posts"] += 1
        before = fingerprint.take()
        response = post(client, url, fields)
        shown = f"{url} {[(n, v if isinstance(v, str) else v[0]) for n, v in fields]!r:.400}"
        if response.status_code >= 500:
            failures.setdefault(where, f"{shown} -> {response.status_code}")
        elif refused(response):
            FIGURES["refused"] += 1
            changed = Fingerprint.changed(before, fingerprint.take())
            if changed:
                failures.setdefault(where, f"{shown} -> {response.status_code}, wrote {changed}")

    def checked_get(where: str, url: str, params: dict):
        FIGURES["gets"] += 1
        response = client.get(url, params)
        if response.status_code >= 500:
            failures.setdefault(where, f"{url} {params!r:.300} -> {response.status_code}")

    for model, model_admin in admin.site._registry.items():
        label = model._meta.label
        info = (model._meta.app_label, model._meta.model_name)
        request = client.get(reverse("admin:{}_{}_changelist".format(*info))).wsgi_request
        request.user = staff
        target = chosen.get(label) or model_admin.get_queryset(request).order_by("pk").first()

        pages = []
        if model_admin.has_add_permission(request):
            pages.append(("add", reverse("admin:{}_{}_add".format(*info))))
        if target is not None:
            url = reverse("admin:{}_{}_change".format(*info), args=[target.pk])
            if model_admin.has_change_permission(request, target):
                pages.append(("change", url))
            else:
                checked_get(f"{label} view", url, {})
        for kind, url in pages:
            page = client.get(url)
            if page.status_code >= 500 or page.context is None or "adminform" not in page.context:
                failures.setdefault(f"{label} {kind} page", f"GET {url} -> {page.status_code}")
                continue
            FIGURES["forms"] += 1
            base = page_controls(page.content.decode())
            form_fields = page.context["adminform"].form.fields
            if not fuzzed_fields(form_fields):
                continue
            for fields in worst_posts(base, form_fields):
                checked_post(f"{label} {kind}", url, fields)
            run(
                form_post_strategy(base, form_fields),
                partial(checked_post, f"{label} {kind}", url),
                FORM_EXAMPLES,
            )

        changelist = reverse("admin:{}_{}_changelist".format(*info))
        listing = client.get(changelist)
        if listing.status_code >= 500 or listing.context is None:
            failures.setdefault(f"{label} changelist", f"GET -> {listing.status_code}")
            continue
        cl = listing.context["cl"]
        names = ["q", "o", "p", "e", "all", "_popup", "_to_field"]
        for spec in cl.filter_specs:
            names += list(spec.expected_parameters())
        if model_admin.date_hierarchy:
            names += [f"{model_admin.date_hierarchy}__{part}" for part in ("year", "month", "day")]
        params = st.dictionaries(st.sampled_from(names), st.one_of(numbers, texts), max_size=4)
        run(params, partial(checked_get, f"{label} filters", changelist), SMALL_EXAMPLES)

        if target is None:
            continue
        for name, (function, _, _) in model_admin.get_actions(request).items():
            form_class = getattr(function, "reason_form", None)
            if form_class is None:
                continue
            form_fields = form_class().fields
            base = [("action", name), (ACTION_CHECKBOX_NAME, str(target.pk)), ("apply", "1")]
            base += [(field_name, "") for field_name in form_fields]
            for fields in worst_posts(base, form_fields):
                checked_post(f"{label} action {name}", changelist, fields)
            run(
                form_post_strategy(base, form_fields),
                partial(checked_post, f"{label} action {name}", changelist),
                SMALL_EXAMPLES,
            )

    print(
        f"\nRELIABILITY admin fuzz: {FIGURES['posts']} posts ({FIGURES['refused']} refused) to "
        f"{FIGURES['forms']} forms and actions, {FIGURES['gets']} list and page reads, "
        f"{len(failures)} failures"
    )
    assert FIGURES["forms"] > 15
    assert not failures, "\n".join(f"{where}: {example}" for where, example in failures.items())


def test_the_other_django_views_answer_no_5xx():
    """Health, metrics, the dashboards, the player context and compliance pages, the API docs
    and both login forms, with hostile query strings and login posts, anonymous and as staff."""
    staff = factories.UserFactory(is_superuser=True, is_staff=True)
    world = make_world()
    anonymous, logged_in = Client(), Client()
    logged_in.force_login(staff)
    pages = [
        "/healthz", "/metrics", "/admin/", "/admin/monitoring/dashboard/",
        f"/admin/monitoring/dashboard/{world['provider'].code}/",
        f"/admin/fraud/case/player/{world['player'].pk}/context/",
        f"/admin/compliance/providercompliance/{world['provider'].pk}/change/",
        "/api/docs/", "/api/schema/", "/api-auth/login/", "/admin/login/",
    ]  # fmt: skip
    failures = {}
    names = ["hours", "format", "next", "q", "o", "p", "lang", "page", "provider", "window"]

    def visit(query: dict) -> None:
        for client in (anonymous, logged_in):
            for url in pages:
                response = client.get(url, query)
                if response.status_code >= 500:
                    failures.setdefault(url, f"{query!r:.300} -> {response.status_code}")

    def log_in(fields: list) -> None:
        for url in ("/admin/login/", "/api-auth/login/"):
            before = Fingerprint().take()
            response = post(Client(), url, fields)
            if response.status_code >= 500:
                failures.setdefault(f"POST {url}", f"{fields!r:.300} -> {response.status_code}")
            elif Fingerprint.changed(before, Fingerprint().take()):
                failures.setdefault(f"POST {url}", f"{fields!r:.300} wrote a row")

    run(st.dictionaries(st.sampled_from(names), st.one_of(numbers, texts), max_size=3), visit, 6)
    credentials = st.tuples(texts, texts).map(
        lambda pair: [("username", pair[0]), ("password", pair[1]), ("next", "/admin/")]
    )
    run(credentials, log_in, 8)
    assert not failures, "\n".join(f"{where}: {example}" for where, example in failures.items())
