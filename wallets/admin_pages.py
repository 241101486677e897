"""The admin's own pages beyond models: the project's documentation (docs/*.md rendered from
Markdown), an integrator's API token (created and rotated by its owner, shown once), a readable
OpenAPI schema page, the error pages and the favicon.

Views here validate and render; the token is issued by wallets.services (audited).
"""

from functools import cache
from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.templatetags.static import static
from django.urls import reverse
from drf_spectacular.renderers import OpenApiYamlRenderer
from drf_spectacular.views import SpectacularAPIView
from markdown_it import MarkdownIt
from rest_framework.authtoken.models import Token
from rest_framework.renderers import BaseRenderer

from wallets import services, shown_once

DOCS_DIR = Path(settings.BASE_DIR) / "docs"

# --- documentation --------------------------------------------------------------------------


def _markdown() -> MarkdownIt:
    # CommonMark with tables; raw HTML in the documents is shown as text, never interpreted.
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


@cache
def _documents_on_disk(docs_dir: Path) -> tuple:
    return tuple(sorted(docs_dir.rglob("*.md")))


def documents() -> list[dict]:
    """Every Markdown document under docs/: its slug (path without .md) and title (its first
    heading), the wallet contract first, then the integrations, then the rest."""
    found = []
    for path in _documents_on_disk(DOCS_DIR):
        slug = path.relative_to(DOCS_DIR).with_suffix("").as_posix()
        title = slug
        with path.open(encoding="utf-8") as text:
            for line in text:
                if line.startswith("# "):
                    title = line[2:].strip()
                    break
        found.append({"slug": slug, "title": title, "path": path})

    def rank(doc):
        if doc["slug"] == "wallet-api":
            return (0, doc["slug"])
        return (1 if doc["slug"].startswith("integrations/") else 2, doc["slug"])

    return sorted(found, key=rank)


def _doc_url(slug: str) -> str:
    return reverse("pitboss-doc", args=[slug])


def _rewrite_link(href: str, here: str, slugs: set[str]) -> str:
    """A relative link between documents (`integrations/hub88.md#auth`, `../wallet-api.md`,
    `integrations/`) becomes the admin page of that document; others stay as written."""
    if not href or "://" in href or href.startswith(("#", "/", "mailto:")):
        return href
    target, _, fragment = href.partition("#")
    base = Path(here).parent
    joined = (base / target).as_posix() if str(base) != "." else target
    parts: list[str] = []
    for part in joined.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    slug = "/".join(parts)
    anchor = f"#{fragment}" if fragment else ""
    if slug.endswith(".md") and slug[:-3] in slugs:
        return _doc_url(slug[:-3]) + anchor
    if target.endswith("/") and any(s.startswith(slug + "/") for s in slugs):
        return reverse("pitboss-docs") + f"#{slug}"
    return href


def render_document(slug: str, text: str, slugs: set[str]) -> str:
    md = _markdown()
    env: dict = {}
    tokens = md.parse(text, env)
    for token in tokens:
        for child in token.children or []:
            if child.type == "link_open":
                child.attrSet("href", _rewrite_link(str(child.attrGet("href") or ""), slug, slugs))
    return md.renderer.render(tokens, md.options, env)


def docs_index(request):
    docs = documents()
    context = {
        **admin.site.each_context(request),
        "title": "Documentation",
        "documents": docs,
        "groups": [
            ("Provider wallet API", [d for d in docs if d["slug"] == "wallet-api"]),
            ("Provider protocols", [d for d in docs if d["slug"].startswith("integrations/")]),
            (
                "Operations",
                [
                    d
                    for d in docs
                    if d["slug"] != "wallet-api" and not d["slug"].startswith("integrations/")
                ],
            ),
        ],
    }
    return render(request, "admin/pitboss/docs_index.html", context)


def doc_page(request, slug: str):
    docs = {d["slug"]: d for d in documents()}
    doc = docs.get(slug)
    if doc is None:
        raise Http404(f"No document {slug!r}.")
    html = render_document(slug, doc["path"].read_text(encoding="utf-8"), set(docs))
    context = {
        **admin.site.each_context(request),
        "title": doc["title"],
        "document": doc,
        "body": html,
    }
    return render(request, "admin/pitboss/doc_page.html", context)


# --- an integrator's own API token ----------------------------------------------------------

TOKEN_PERMISSION = "authtoken.add_token"


class RotateTokenForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Optional: kept in the audit trail (e.g. a leaked key, a new deployment).",
    )


def my_api_token(request):
    """GET: whether the user has a token (never its key). POST create: a first token. POST
    rotate (confirmed): a new key; the old one stops working at once. The new key is shown
    once, on the next page, from the server-side session (wallets.shown_once)."""
    if not request.user.has_perm(TOKEN_PERMISSION):
        raise PermissionDenied
    token = Token.objects.filter(user=request.user).first()
    form = RotateTokenForm(request.POST or None)
    if request.method == "POST":
        wanted = request.POST.get("do")
        if wanted not in ("create", "rotate") or not form.is_valid():
            messages.error(request, "Nothing was changed: choose Create or Rotate.")
            return HttpResponseRedirect(reverse("pitboss-my-api-token"))
        if wanted == "create" and token is not None:
            messages.error(request, "You already have a token: rotate it to get a new key.")
            return HttpResponseRedirect(reverse("pitboss-my-api-token"))
        if wanted == "rotate" and token is None:
            messages.error(request, "You have no token yet: create one.")
            return HttpResponseRedirect(reverse("pitboss-my-api-token"))
        key = services.issue_own_api_token(user=request.user, reason=form.cleaned_data["reason"])
        label = "Your new API token" if wanted == "rotate" else "Your API token"
        shown_once.keep_to_show_once(request, label=label, secret=key)
        if wanted == "rotate":
            messages.warning(request, "The previous token no longer works: update your tools.")
        return HttpResponseRedirect(reverse("pitboss-my-api-token"))
    context = {
        **admin.site.each_context(request),
        "title": "My API token",
        "token": token,
        "form": form,
        "confirm_rotate": request.GET.get("rotate") == "1" and token is not None,
        "api_base": request.build_absolute_uri("/api/v1/"),
    }
    return render(request, "admin/pitboss/my_api_token.html", context)


# --- the OpenAPI schema, readable in a browser ----------------------------------------------


class OpenApiHtmlRenderer(BaseRenderer):
    """`GET /api/schema/` from a browser (Accept: text/html): the schema as a page — its
    operations as a table and the full YAML — linking to Swagger UI and the documentation.
    Tools asking for YAML or JSON (or anything, */*) still get the schema itself."""

    media_type = "text/html"
    format = "html"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        from django.template.loader import render_to_string

        request = renderer_context["request"] if renderer_context else None
        operations = []
        for route, methods in (data or {}).get("paths", {}).items():
            for method, operation in methods.items():
                if not isinstance(operation, dict):
                    continue
                summary = operation.get("summary") or (operation.get("description") or "")
                operations.append(
                    {
                        "method": method.upper(),
                        "path": route,
                        "summary": summary.strip().splitlines()[0] if summary.strip() else "",
                        "tag": (operation.get("tags") or [""])[0],
                        "id": operation.get("operationId", ""),
                    }
                )
        text = OpenApiYamlRenderer().render(data, renderer_context=renderer_context).decode()
        return render_to_string(
            "pitboss/schema_page.html",
            {"operations": operations, "yaml": text, "info": (data or {}).get("info", {})},
            request=request,
        )


class ReadableSchemaView(SpectacularAPIView):
    """`/api/schema/`: YAML (or JSON) for tools, as always; a page for a browser."""

    renderer_classes = [*SpectacularAPIView.renderer_classes, OpenApiHtmlRenderer]


# --- the favicon and the site's root --------------------------------------------------------


@login_not_required
def favicon(request):
    return HttpResponseRedirect(static("pitboss/favicon.svg"))


@login_not_required
def site_root(request):
    """The site's root: the back office (the admin's home)."""
    return HttpResponseRedirect(reverse("admin:index"))
