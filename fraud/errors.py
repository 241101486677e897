"""Errors of the fraud app that the wallet's error family has no code for."""

from wallets.errors import WalletError


class CaseForbidden(WalletError):
    """The user may not work on this case (an escalated case without the level-2 permission):
    403 on the API, an error message in the admin; nothing changes."""

    code, http_status, default_message = "FORBIDDEN", 403, "not permitted on this case"
