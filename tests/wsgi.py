"""Requests straight into the production entry point, config.wsgi.application: a WSGI environ
built as a server would, the application called, status, headers and body collected. Its
/wallet/v1/ calls take the wallet API's own way in (wallets.adapters.front) before Django's
handler; every other path is Django's."""

import io
import json

from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.utils.datastructures import CaseInsensitiveMapping


class WsgiResponse:
    """What the application answered, read like a Django test client response."""

    def __init__(self, status: str, headers: list[tuple[str, str]], content: bytes):
        self.status_code = int(status.split()[0])
        self.reason_phrase = status.partition(" ")[2]
        self.header_list = headers
        self.headers = CaseInsensitiveMapping(dict(headers))
        self.content = content

    def __getitem__(self, name: str) -> str:
        return self.headers[name]

    def has_header(self, name: str) -> bool:
        return name in self.headers

    def json(self):
        return json.loads(self.content)


def wsgi_request(method: str, path: str, body: bytes = b"", **environ) -> WsgiResponse:
    """Call config.wsgi.application once. `environ` adds to or overrides the request's
    environ: HTTP_* headers, REMOTE_ADDR, wsgi.input, wsgi.url_scheme..."""
    from config.wsgi import application

    base = {
        "REQUEST_METHOD": method.upper(),
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SCRIPT_NAME": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "testserver",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }
    base.update(environ)
    answer: dict = {}

    def start_response(status, headers, exc_info=None):
        answer["status"], answer["headers"] = status, headers

    # As Django's test client does: the test's transaction must not be closed as a "stale
    # connection" at the request's start or end (on requests that reach Django's handler).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        result = application(base, start_response)
        try:
            content = b"".join(result)
        finally:
            if hasattr(result, "close"):  # a WSGI server always closes what it was given
                result.close()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return WsgiResponse(answer["status"], answer["headers"], content)
