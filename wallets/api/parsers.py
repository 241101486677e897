import json
from decimal import Decimal

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class ExactJSONParser(JSONParser):
    """JSON whose numbers are read exactly (Decimal), never through a binary float."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", "utf-8")
        try:
            return json.loads(
                stream.read().decode(encoding), parse_float=Decimal, parse_constant=_refuse
            )
        except (ValueError, RecursionError) as error:
            raise ParseError(f"JSON parse error - {error}") from None


def _refuse(name: str):
    raise ValueError(f"{name} is not a number")
