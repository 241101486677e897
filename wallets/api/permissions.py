from rest_framework.permissions import DjangoModelPermissions


class StaffModelPermissions(DjangoModelPermissions):
    """Django model permissions for the staff API, reads included (view_<model>).

    A view may name the permissions of its custom actions in `action_permissions`
    ({action: [perm, ...]}) or, for a view without a model, in `required_permissions`.
    Superusers pass everything. Anonymous callers get 401, others without the permission 403.
    """

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        action = getattr(view, "action", None)
        action_perms = getattr(view, "action_permissions", {}).get(action)
        if action_perms is not None:
            return user.has_perms(action_perms)
        required = getattr(view, "required_permissions", None)
        if required is not None:
            return user.has_perms(required)
        return super().has_permission(request, view)
