"""The JSON renderer of the back-office API: DRF's, except that a response can always be
encoded. An error message may quote the request's input; text that is not valid Unicode (a
lone surrogate from an upstream escape) is written as a JSON escape instead of failing the
response with a 500."""

import json

from rest_framework.renderers import JSONRenderer


class SafeJSONRenderer(JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except UnicodeEncodeError:
            # Only text that cannot be UTF-8 gets here; ASCII-only JSON escapes all of it.
            return json.dumps(
                data, cls=self.encoder_class, ensure_ascii=True, allow_nan=not self.strict
            ).encode("ascii")
