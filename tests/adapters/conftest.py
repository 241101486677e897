"""Transports that call the application in process the two ways a request can reach a
protocol adapter: Django's request stack (the test client) and the production entry point
(config.wsgi: the wallet's short way in, before Django)."""

import io
import json

import pytest
from django.test import Client

from simulator.clients import HttpResult


class DjangoTransport:
    def __init__(self) -> None:
        self.client = Client(REMOTE_ADDR="127.0.0.1")

    def request(self, method: str, path: str, body: bytes | None, headers: dict) -> HttpResult:
        extra = {
            (
                "CONTENT_TYPE"
                if name.lower() == "content-type"
                else "HTTP_" + name.upper().replace("-", "_")
            ): value
            for name, value in headers.items()
        }
        content_type = extra.pop("CONTENT_TYPE", "application/json")
        response = self.client.generic(method, path, body or b"", content_type, **extra)
        return _result(response.status_code, response.content, dict(response.items()))


class WsgiTransport:
    """config.wsgi.application, called with a WSGI environ as granian builds it."""

    def request(self, method: str, path: str, body: bytes | None, headers: dict) -> HttpResult:
        from config.wsgi import application

        raw_path, _, query = path.partition("?")
        body = body or b""
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": raw_path,
            "QUERY_STRING": query,
            "SCRIPT_NAME": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
            "wsgi.url_scheme": "http",
            "wsgi.errors": io.StringIO(),
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "wsgi.version": (1, 0),
        }
        for name, value in headers.items():
            key = name.upper().replace("-", "_")
            environ[key if key == "CONTENT_TYPE" else "HTTP_" + key] = value
        answer = {}

        def start_response(status, response_headers, exc_info=None):
            answer["status"] = int(status.split()[0])
            answer["headers"] = dict(response_headers)

        content = b"".join(application(environ, start_response))
        return _result(answer["status"], content, answer["headers"])


def _result(status: int, content: bytes, headers: dict) -> HttpResult:
    try:
        body = json.loads(content) if content else None
    except ValueError:
        body = None
    return HttpResult(status, body, {k.lower(): v for k, v in headers.items()})


@pytest.fixture(params=["django", "wsgi"])
def transport(request, db):
    """Both ways in: every adapter test runs through each."""
    return DjangoTransport() if request.param == "django" else WsgiTransport()
