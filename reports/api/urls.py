from django.urls import path

from reports.api import views

urlpatterns = [
    path("reports/ggr", views.GgrReportView.as_view(), name="report-ggr"),
    path("reports/ggr/export.csv", views.GgrExportView.as_view(), name="report-ggr-csv"),
    path(
        "players/<str:player_id>/balance-at",
        views.BalanceAtView.as_view(),
        name="player-balance-at",
    ),
    path(
        "players/<str:player_id>/statement",
        views.PlayerStatementView.as_view(),
        name="player-statement",
    ),
]
