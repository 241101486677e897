"""Secrets the admin shows once (a provider's wallet API secret after create or rotate).

Django's messages travel in a cookie that is signed, not encrypted: a secret put in a message
would sit in the browser's cookie jar and in every proxy log of that response. Instead the
secret waits in the server-side session, encrypted with the secrets' key (wallets.crypto), and
the next admin page takes it out as it shows it (templates/admin/base_site.html): shown once,
then gone.
"""

from wallets import crypto

SESSION_KEY = "pitboss_shown_once"


def keep_to_show_once(request, *, label: str, secret: str) -> None:
    pending = request.session.get(SESSION_KEY, [])
    pending.append({"label": label, "ciphertext": crypto.encrypt_secret(secret)})
    request.session[SESSION_KEY] = pending


def take_to_show(request) -> list[dict]:
    """The secrets waiting for this session, removed from it: [{label, secret}]."""
    session = getattr(request, "session", None)
    if session is None or SESSION_KEY not in session:
        return []
    pending = session.pop(SESSION_KEY)
    return [
        {"label": item["label"], "secret": crypto.decrypt_secret(item["ciphertext"]).decode()}
        for item in pending
    ]
