from django.urls import path

from protection.api import views

urlpatterns = [
    path("players/<int:player_id>/limits", views.PlayerLimitsView.as_view(), name="player-limits"),
    path(
        "players/<int:player_id>/session-limit",
        views.PlayerSessionLimitView.as_view(),
        name="player-session-limit",
    ),
    path(
        "players/<int:player_id>/exclusions",
        views.PlayerExclusionsView.as_view(),
        name="player-exclusions",
    ),
    path(
        "players/<int:player_id>/reality-check",
        views.PlayerRealityCheckView.as_view(),
        name="player-reality-check",
    ),
]
