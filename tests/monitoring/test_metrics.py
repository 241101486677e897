"""/metrics: Prometheus text format with the same figures, and who may read it."""

import re
import time

import pytest
from django.test import Client

from monitoring import capture, services
from tests import factories
from wallets.hooks import CallObservation

pytestmark = pytest.mark.django_db

_SAMPLE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?P<labels>[^}]*)\})? (?P<value>[-+0-9.eE]+|\+Inf|NaN)$"
)
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text: str):
    """A strict reader of the text format: every sample belongs to a declared family."""
    types, samples = {}, []
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in {"counter", "gauge", "histogram"}
            types[name] = kind
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name = match["name"]
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
        assert family in types, f"{name} has no # TYPE"
        labels = dict(_LABEL.findall(match["labels"] or ""))
        samples.append((name, labels, float(match["value"])))
    return types, samples


def _value(samples, metric, /, **labels):
    found = [
        v
        for n, lab, v in samples
        if n == metric and all(lab.get(k) == w for k, w in labels.items())
    ]
    assert len(found) == 1, (metric, labels, found)
    return found[0]


def test_metrics_parse_and_carry_the_figures(wallet_api, token, provider):
    for i in range(3):
        wallet_api.call(
            "bet", session_token=token, transaction_id=f"m{i}", round_id="r", amount="1.00",
            currency="EUR",
        )  # fmt: skip
    services.flush_metrics(now=time.time() + 3600)
    capture.record_call(CallObservation("acme", "bet", "INTERNAL_ERROR", 60_000))  # still live
    response = Client().get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    types, samples = parse(response.content.decode())
    assert types["pitboss_wallet_latency_seconds"] == "histogram"
    assert _value(samples, "pitboss_wallet_calls_total", provider="acme", operation="bet") == 4
    assert (
        _value(samples, "pitboss_wallet_call_errors_total", provider="acme", operation="bet") == 1
    )
    count = _value(
        samples, "pitboss_wallet_latency_seconds_count", provider="acme", operation="bet"
    )
    inf = _value(
        samples,
        "pitboss_wallet_latency_seconds_bucket",
        provider="acme",
        operation="bet",
        le="+Inf",
    )
    assert count == inf == 4
    buckets = [
        v
        for n, lab, v in samples
        if n == "pitboss_wallet_latency_seconds_bucket" and lab.get("provider") == "acme"
        and lab.get("operation") == "bet"
    ]  # fmt: skip
    assert buckets == sorted(buckets)  # cumulative
    # The live call (60 ms) is above 50 ms; the bets are under 5 s however loaded the machine.
    assert _value(samples, "pitboss_wallet_latency_seconds_bucket", provider="acme",
                  operation="bet", le="0.05") <= 3  # fmt: skip
    assert _value(samples, "pitboss_wallet_latency_seconds_bucket", provider="acme",
                  operation="bet", le="5.0") == 4  # fmt: skip
    assert _value(samples, "pitboss_open_sessions", provider="acme") == 1
    assert _value(samples, "pitboss_provider_status", provider="acme", status="active") == 1
    assert _value(samples, "pitboss_metrics_lost_total") == 0


def test_lost_observations_are_exposed(settings):
    settings.MONITORING_REDIS_URL = "redis://127.0.0.1:1/0"
    capture.reset()
    capture.record_call(CallObservation("acme", "bet", "OK", 1000))
    capture.record_call(CallObservation("acme", "bet", "OK", 1000))
    settings.MONITORING_REDIS_URL = ""
    _, samples = parse(Client().get("/metrics").content.decode())
    assert _value(samples, "pitboss_metrics_lost_total") == 2
    assert _value(samples, "pitboss_metrics_lost_process_total") == 2


def test_metrics_need_the_token_when_one_is_set(settings):
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    client = Client()
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    ok = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token")
    assert ok.status_code == 200
    staff = Client()
    staff.force_login(factories.UserFactory())
    assert staff.get("/metrics").status_code == 200


def test_without_a_token_only_loopback_and_staff(settings):
    settings.METRICS_TOKEN = ""
    assert Client().get("/metrics", REMOTE_ADDR="10.0.0.9").status_code == 403
    assert Client().get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200


@pytest.mark.parametrize("behind_proxy", [True, False])
@pytest.mark.parametrize(
    "forwarding",
    [
        {"HTTP_X_FORWARDED_FOR": "203.0.113.9"},
        {"HTTP_X_FORWARDED_FOR": "127.0.0.1"},
        {"HTTP_X_FORWARDED_FOR": ""},
        {"HTTP_FORWARDED": "for=203.0.113.9"},
        {"HTTP_X_REAL_IP": "203.0.113.9"},
        {"HTTP_X_FORWARDED_HOST": "metrics.example.com"},
    ],
)
def test_a_forwarded_request_is_not_a_local_caller(settings, behind_proxy, forwarding):
    """A proxy on this host reaches us from loopback: what it forwards came from anywhere."""
    settings.METRICS_TOKEN = ""
    settings.BEHIND_PROXY = behind_proxy
    for address in ("127.0.0.1", "::1"):
        assert Client().get("/metrics", REMOTE_ADDR=address, **forwarding).status_code == 403
        assert Client().get("/metrics", REMOTE_ADDR=address).status_code == 200


def test_the_proxys_own_address_is_never_a_local_caller(settings):
    settings.METRICS_TOKEN = ""
    settings.BEHIND_PROXY = True
    settings.PROXY_ADDRESSES = ["127.0.0.1"]
    # The proxy forwarded without any header: still not local.
    assert Client().get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403
    assert Client().get("/metrics", REMOTE_ADDR="::1").status_code == 200  # not the proxy


def test_behind_a_proxy_a_token_or_staff_still_reads_the_metrics(settings):
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    settings.BEHIND_PROXY = True
    settings.PROXY_ADDRESSES = ["127.0.0.1"]
    forwarded = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.9"}
    bearer = {"HTTP_AUTHORIZATION": "Bearer s3cret-scrape-token"}
    assert Client().get("/metrics", **forwarded).status_code == 403
    assert Client().get("/metrics", **forwarded, **bearer).status_code == 200
    staff = Client()
    staff.force_login(factories.UserFactory())
    assert staff.get("/metrics", **forwarded).status_code == 200


def test_published_figures_are_exposed_with_their_name(provider):
    """Figures other apps publish (drift, violations, ...) carry a `name` label."""
    from django.utils import timezone

    from monitoring.models import GaugeMinute

    GaugeMinute.objects.create(
        provider=provider,
        name="drift_total_minor",
        minute=timezone.now().replace(second=0, microsecond=0),
        value=7,
    )
    response = Client().get("/metrics")
    assert response.status_code == 200
    _, samples = parse(response.content.decode())
    assert _value(samples, "pitboss_figure", provider=provider.code, name="drift_total_minor") == 7


@pytest.mark.parametrize(
    ("development", "token", "warned"),
    [(False, "", True), (False, "s3cret", False), (True, "", False)],
)
def test_check_deploy_warns_about_metrics_without_a_token_in_production(
    settings, development, token, warned
):
    from django.core.checks import run_checks

    settings.DEVELOPMENT, settings.METRICS_TOKEN = development, token
    ids = {message.id for message in run_checks(include_deployment_checks=True)}
    assert ("pitboss.W001" in ids) is warned
    assert "pitboss.W001" not in {message.id for message in run_checks()}  # deploy only
