"""Rendering of errors on the staff API: a JSON body naming the code, the field and the reason."""

import logging

from django.db import DataError, InterfaceError, OperationalError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from wallets.errors import WalletError
from wallets.money import format_amount

logger = logging.getLogger("pitboss.api")


def staff_api_exception_handler(exc, context):
    if isinstance(exc, WalletError):
        body = {"code": exc.code, "message": exc.message}
        if exc.field:
            body["field"] = exc.field
        if exc.balance_minor is not None and exc.currency:
            body["available"] = format_amount(exc.balance_minor, exc.currency)
            body["currency"] = exc.currency
        return Response(body, status=exc.http_status)
    if isinstance(exc, (OperationalError, InterfaceError)):
        logger.warning("database unavailable", exc_info=True)
        return Response(
            {"code": "SERVICE_UNAVAILABLE", "message": "database unavailable, retry"},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    if isinstance(exc, DataError):
        # A value PostgreSQL cannot take (a NUL character, a time zone offset beyond 15:59, a
        # number out of range) reached a query: bad input, not a server fault.
        return Response(
            {"code": "VALIDATION_ERROR", "message": "a value in the request cannot be stored"},
            status=status.HTTP_400_BAD_REQUEST,
        )
    return exception_handler(exc, context)
