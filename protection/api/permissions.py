from rest_framework.permissions import BasePermission


class MethodPermissions(BasePermission):
    """The view's `permissions_by_method` ({"GET": [perm, ...], ...}); superusers pass.
    Anonymous callers get 401, others without the permission 403."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        method = "GET" if request.method in ("HEAD", "OPTIONS") else request.method
        return user.has_perms(view.permissions_by_method.get(method, ["-no-such-permission"]))
