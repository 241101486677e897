from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from monitoring.health import healthz
from monitoring.metrics import metrics_view

admin.site.site_header = "Pitboss back office"
admin.site.site_title = "Pitboss"
admin.site.index_title = "Casino wallet operations"

urlpatterns = [
    # The monitoring dashboard lives under the admin (staff only); before admin.site.urls, whose
    # catch-all would 404 it.
    path("admin/monitoring/", include("monitoring.dashboard")),
    path("admin/reports/", include("reports.pages")),
    path("admin/", admin.site.urls),
    path("wallet/", include("wallets.adapters.urls")),
    path("api/v1/", include("wallets.api.urls")),
    path("api/v1/", include("monitoring.api.urls")),
    path("api/v1/", include("reconciliation.api.urls")),
    path("api/v1/", include("fraud.api.urls")),
    path("api/v1/", include("compliance.api.urls")),
    path("api/v1/", include("reports.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api-auth/", include("rest_framework.urls")),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
]
