import re
import uuid

from django.contrib import messages
from django.db import DataError
from django.http import HttpResponseRedirect

from wallets.errors import WalletError

_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class RequestIdMiddleware:
    """Gives every request an id (the caller's X-Request-Id when sane) and echoes it back."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-Id", "")
        request.request_id_from_caller = bool(_VALID_REQUEST_ID.fullmatch(incoming))
        request.request_id = incoming if request.request_id_from_caller else uuid.uuid4().hex
        response = self.get_response(request)
        response["X-Request-Id"] = request.request_id
        return response


class AdminRefusalMiddleware:
    """A service's refusal in an admin view (a WalletError raised by save_model after the form
    was valid: a code taken by a concurrent save, a state that changed meanwhile) or a value
    PostgreSQL cannot store (DataError) is bad input, not a server fault: the admin wraps the
    save in a transaction, which is rolled back by then; the user is sent back to the page with
    the reason as an error message instead of a 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        # Posts only: a page that fails when read would be redirected to itself forever.
        if request.method != "POST" or not request.path.startswith("/admin/"):
            return None
        if not hasattr(request, "_messages"):
            return None
        if isinstance(exception, WalletError):
            reason = exception.message
        elif isinstance(exception, DataError):
            reason = "a value in the form cannot be stored"
        else:
            return None
        messages.error(request, f"Not saved: {reason}")
        return HttpResponseRedirect(request.get_full_path())
