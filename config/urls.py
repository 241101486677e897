from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularSwaggerView

from monitoring.health import healthz
from monitoring.metrics import metrics_view
from wallets import admin_pages

admin.site.site_header = "Pitboss back office"
admin.site.site_title = "Pitboss"
admin.site.index_title = "Casino wallet operations"
# "View site" leads to the back office's home (the site has no public pages).
admin.site.site_url = "/admin/"

urlpatterns = [
    # The monitoring dashboard lives under the admin (staff only); before admin.site.urls, whose
    # catch-all would 404 it.
    path("admin/monitoring/", include("monitoring.dashboard")),
    # The project's documentation and an integrator's own API token (staff only).
    path("admin/docs/", admin.site.admin_view(admin_pages.docs_index), name="pitboss-docs"),
    path(
        "admin/docs/<path:slug>/",
        admin.site.admin_view(admin_pages.doc_page),
        name="pitboss-doc",
    ),
    path(
        "admin/my-api-token/",
        admin.site.admin_view(admin_pages.my_api_token),
        name="pitboss-my-api-token",
    ),
    path("admin/reports/", include("reports.pages")),
    path("admin/", admin.site.urls),
    path("wallet/", include("wallets.adapters.urls")),
    path("api/v1/", include("wallets.api.urls")),
    path("api/v1/", include("monitoring.api.urls")),
    path("api/v1/", include("reconciliation.api.urls")),
    path("api/v1/", include("fraud.api.urls")),
    path("api/v1/", include("compliance.api.urls")),
    path("api/v1/", include("protection.api.urls")),
    path("api/v1/", include("reports.api.urls")),
    path("api/schema/", admin_pages.ReadableSchemaView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api-auth/", include("rest_framework.urls")),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path("favicon.ico", admin_pages.favicon),
    path("", admin_pages.site_root),
]
