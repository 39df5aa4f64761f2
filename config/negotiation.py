"""Content negotiation: REST framework's, with a short way for what clients send nearly
always."""

from rest_framework.negotiation import DefaultContentNegotiation


class ContentNegotiation(DefaultContentNegotiation):
    """DefaultContentNegotiation, which builds the request's header dict and parses the
    Accept header into media types on every request. A view with one renderer, asked for
    with no Accept header, `*/*` or exactly that renderer's media type, and no `format`,
    gets that renderer and its media type without either: what the default answers.
    Everything else goes the default way, 406 and 404 included.
    """

    def select_renderer(self, request, renderers, format_suffix=None):
        if len(renderers) == 1 and not format_suffix:
            renderer = renderers[0]
            media_type = renderer.media_type
            accept = request.META.get("HTTP_ACCEPT")
            if (
                ";" not in media_type
                and accept in (None, "*/*", media_type)
                and not (
                    request.META.get("QUERY_STRING")
                    and request.query_params.get(self.settings.URL_FORMAT_OVERRIDE)
                )
            ):
                return renderer, media_type
        return super().select_renderer(request, renderers, format_suffix)
