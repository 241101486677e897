"""The admin's own pages (wallets/admin_pages.py) and its polish: an integrator's API token
(created and rotated by its owner, shown once from server-side state), the documentation
rendered from docs/*.md, the readable schema page, error pages, the favicon, "View site",
player search by either id, and money as people read it."""

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from tests import factories
from wallets.models import AuditRecord

pytestmark = pytest.mark.django_db


def login(*groups, superuser=False):
    user = factories.UserFactory(groups=list(groups), is_superuser=superuser)
    client = Client()
    client.force_login(user)
    return client, user


# --- an integrator's own API token ------------------------------------------------------------


def test_integrator_creates_then_rotates_their_token_seeing_each_key_once():
    client, user = login("integrator")
    page = client.get("/admin/my-api-token/").content.decode()
    assert "You have no API token yet." in page

    response = client.post("/admin/my-api-token/", {"do": "create"})
    assert response.status_code == 302
    key = Token.objects.get(user=user).key
    # The key never travels in the messages cookie.
    assert key not in str(response.cookies.get("messages", ""))
    shown = client.get("/admin/my-api-token/").content.decode()
    assert key in shown and "shown once" in shown
    again = client.get("/admin/my-api-token/").content.decode()
    assert key not in again and "You have an API token" in again
    # The key works on the API.
    api = Client(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/providers/").status_code == 200

    confirm = client.get("/admin/my-api-token/?rotate=1").content.decode()
    assert "stops working at once" in confirm
    response = client.post("/admin/my-api-token/", {"do": "rotate", "reason": "laptop lost"})
    assert response.status_code == 302
    new_key = Token.objects.get(user=user).key
    assert new_key != key
    assert new_key in client.get("/admin/my-api-token/").content.decode()
    assert api.get("/api/v1/providers/").status_code == 401  # the old key is dead
    records = AuditRecord.objects.filter(action__startswith="api_token.").order_by("id")
    assert [(r.action, r.reason) for r in records] == [
        ("api_token.create", ""),
        ("api_token.rotate", "laptop lost"),
    ]
    assert all(key not in str(r.before) + str(r.after) for r in records)


def test_token_page_refuses_what_does_not_apply():
    client, user = login("integrator")
    assert client.post("/admin/my-api-token/", {"do": "rotate"}).status_code == 302
    assert not Token.objects.filter(user=user).exists()  # nothing to rotate: nothing made
    client.post("/admin/my-api-token/", {"do": "create"})
    key = Token.objects.get(user=user).key
    client.post("/admin/my-api-token/", {"do": "create"})  # a second create changes nothing
    client.post("/admin/my-api-token/", {"do": "explode"})
    assert Token.objects.get(user=user).key == key


@pytest.mark.parametrize("role", ["back_office", "compliance", "support"])
def test_other_roles_get_403_and_no_token(role):
    client, user = login(role)
    assert client.get("/admin/my-api-token/").status_code == 403
    assert client.post("/admin/my-api-token/", {"do": "create"}).status_code == 403
    assert not Token.objects.filter(user=user).exists()
    assert "My API token" not in client.get("/admin/").content.decode()


def test_the_home_page_links_the_docs_and_the_token_page():
    client, _ = login("integrator")
    home = client.get("/admin/").content.decode()
    assert 'href="/admin/docs/"' in home and 'href="/admin/my-api-token/"' in home


# --- documentation and the schema -------------------------------------------------------------


def test_docs_are_readable_in_the_admin_with_links_between_them():
    client, _ = login("integrator")
    index = client.get("/admin/docs/").content.decode()
    assert "/admin/docs/wallet-api/" in index and "/admin/docs/integrations/hub88/" in index
    page = client.get("/admin/docs/wallet-api/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "<h2" in text and "<table>" in text  # rendered Markdown, tables included
    assert 'href="/admin/docs/#integrations"' in text  # a link to integrations/ is rewritten
    hub88 = client.get("/admin/docs/integrations/hub88/").content.decode()
    assert "<pre><code>" in hub88


@pytest.mark.parametrize(
    "slug", ["nope", "../README", "../../etc/passwd", "integrations/../../pyproject"]
)
def test_unknown_documents_are_404(slug):
    client, _ = login("support")
    assert client.get(f"/admin/docs/{slug}/").status_code == 404


def test_docs_need_a_staff_login():
    response = Client().get("/admin/docs/wallet-api/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_schema_page_is_readable_in_a_browser_and_yaml_for_tools():
    client, _ = login("integrator")
    page = client.get("/api/schema/", HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")
    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    text = page.content.decode()
    assert "/api/v1/providers/" in text and "/admin/docs/" in text and "/api/docs/" in text
    tool = client.get("/api/schema/", HTTP_ACCEPT="*/*")
    assert tool["Content-Type"].startswith("application/vnd.oai.openapi")
    assert client.get("/api/schema/?format=json")["Content-Type"].startswith(
        "application/vnd.oai.openapi+json"
    )


def test_swagger_ui_links_to_the_docs():
    client, _ = login("integrator")
    schema = client.get("/api/schema/?format=json").json()
    assert "/admin/docs/" in schema["info"]["description"]


# --- polish -----------------------------------------------------------------------------------


def test_403_and_404_pages_are_admin_styled_with_a_way_back(settings):
    settings.DEBUG = False
    client, _ = login("support")
    forbidden = client.get("/admin/wallets/provider/add/")
    assert forbidden.status_code == 403
    text = forbidden.content.decode()
    assert "Not allowed (403)" in text and 'id="back-home"' in text and "admin/css" in text
    missing = client.get("/no-such-page/")
    assert missing.status_code == 404
    text = missing.content.decode()
    assert "Not found (404)" in text and "/no-such-page/" in text and 'id="back-home"' in text


def test_view_site_root_and_favicon(settings):
    client, _ = login("support")
    home = client.get("/admin/").content.decode()
    assert 'href="/admin/">View site' in home
    assert "pitboss/favicon.svg" in home
    assert client.get("/")["Location"] == "/admin/"
    assert "favicon.svg" in Client().get("/favicon.ico")["Location"]
    # A read-only page's bottom link says where it goes.
    player = factories.make_player()
    page = client.get(f"/admin/wallets/player/{player.pk}/change/").content.decode()
    assert "Back to the list" in page and ">Close<" not in page


def test_plural_and_home_cards_without_markup():
    client, _ = login(superuser=True)
    home = client.get("/admin/").content.decode()
    assert "Notification deliveries" in home and "deliverys" not in home
    assert "`" not in home.split('id="pitboss-home"')[1].split('id="pitboss-pages"')[0]


def test_player_search_by_internal_or_external_id():
    client, _ = login("support")
    one = factories.make_player(external_id="ext-alpha-7")
    other = factories.make_player(external_id="ext-beta-9")
    by_id = client.get("/admin/wallets/player/", {"q": str(one.pk)}).content.decode()
    assert "ext-alpha-7" in by_id and "ext-beta-9" not in by_id
    by_external = client.get("/admin/wallets/player/", {"q": "beta"}).content.decode()
    assert "ext-beta-9" in by_external and "ext-alpha-7" not in by_external
    assert client.get("/admin/wallets/player/", {"q": "not a number"}).status_code == 200
    assert other.pk  # both exist


def test_player_search_by_address_id_or_part_of_the_external_id_words_and_ed():
    client, _ = login("support")
    # External ids without digits: a search by internal id is not also a part of one of them.
    one = factories.make_player(external_id="ext-gamma-a", registration_ip="10.9.8.7")
    factories.make_player(external_id="ext-gamma-b", registration_ip="2001:db8::1")
    factories.make_player(external_id="ext-delta-c", registration_ip="10.9.8.7")

    def found(term: str) -> set[str]:
        response = client.get("/admin/wallets/player/", {"q": term})
        assert response.status_code == 200
        return {player.external_id for player in response.context["cl"].result_list}

    assert found("10.9.8.7") == {"ext-gamma-a", "ext-delta-c"}
    # An address is compared as stored (normalised), whatever way it was typed.
    assert found("2001:DB8:0:0:0:0:0:1") == {"ext-gamma-b"}
    assert found("GAMMA") == {"ext-gamma-a", "ext-gamma-b"}  # part of it, any case
    assert found(f"{one.pk}") == {"ext-gamma-a"}
    assert found("gamma 10.9.8.7") == {"ext-gamma-a"}  # words are AND-ed
    assert found('"ext-delta-c"') == {"ext-delta-c"}
    assert found("10.9.8.6") == set()
    assert found("99999999999999999999") == set()  # past bigint: no id, no error


def test_player_searches_are_answered_by_indexes():
    from django.db import connection, transaction

    from wallets.models import Player

    with transaction.atomic(), connection.cursor() as cursor:
        # Few players here: a sequential scan, or a whole scan of the primary key's index
        # filtering every row, would win on cost; leave only lookups by a condition.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        for queryset, index in (
            (Player.objects.filter(external_id__icontains="ext-42"), "player_external_id_trgm"),
            (Player.objects.filter(registration_ip="10.0.0.1"), "player_by_registration_ip"),
        ):
            sql, params = queryset.query.sql_with_params()
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert index in plan, plan


def test_money_reads_as_people_read_it_on_detail_pages(provider):
    from wallets.models import Transaction

    client, _ = login("support")
    player = factories.funded_player(110_00)
    txn = Transaction.objects.get(player=player)
    page = client.get(f"/admin/wallets/transaction/{txn.pk}/change/").content.decode()
    assert "110.00 EUR" in page and "+110.00 EUR" in page
    assert "Amount minor" not in page and "11000" not in page
    listing = client.get("/admin/wallets/transaction/").content.decode()
    assert "+110.00 EUR" in listing


def test_audit_states_read_as_tables():
    client, _ = login(superuser=True)
    provider, _secret = factories.make_provider()
    from wallets import services

    services.change_provider_status(provider=provider, status="suspended", reason="checks")
    record = AuditRecord.objects.get(action="provider.status")
    page = client.get(f"/admin/wallets/auditrecord/{record.pk}/change/").content.decode()
    assert "pitboss-readable" in page and "<th>before</th>" in page
    assert "{&#x27;status&#x27;" not in page and "{'status'" not in page
