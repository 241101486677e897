"""Rendering of errors on the staff API: a JSON body naming the code, the field and the reason."""

import logging

from django.db import InterfaceError, OperationalError
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
    return exception_handler(exc, context)
