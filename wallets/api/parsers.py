"""The JSON parser of the back-office API: wallets.strictjson (exact numbers, no repeated keys,
at most 32 levels, no lone surrogates). A refused body is a 400 VALIDATION_ERROR naming the
field (the repeated key, where the lone surrogate is) and changes nothing."""

from rest_framework.parsers import JSONParser

from wallets import strictjson
from wallets.errors import ValidationFailed


class ExactJSONParser(JSONParser):
    """JSON whose numbers are read exactly (Decimal), never through a binary float."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", "utf-8")
        raw = stream.read()
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            raise ValidationFailed(f"the JSON body is not {encoding} text") from None
        try:
            return strictjson.loads(text)
        except strictjson.JSONRefused as refused:
            raise ValidationFailed(
                f"the JSON body is refused: {refused.message}", field=refused.field
            ) from None
