"""Django's session, user and message middleware, left out of the JSON API's requests.

The API has no sessions, logged-in users or flash messages: storefront calls carry a
cart token, back-office calls an API key. Only the admin, the dashboard and the docs
pages use them. Each class here is Django's own, listed in MIDDLEWARE in Django's place
(so the admin's system checks find it), and passes a request under API_PATH_PREFIX
straight on: the request gets no `session`, `user` or `_messages`, and its response no
session cookie and no `Vary: Cookie`.

CsrfViewMiddleware stays as Django ships it: the deploy checks look for it by name, and
for the API's views, all CSRF-exempt, it does next to nothing.
"""

from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.http import HttpRequest, HttpResponse

# Every route of the JSON API (storefront, back office, health) is under it; the docs
# pages (/api/docs/, /api/redoc/) and the schema are not.
API_PATH_PREFIX = "/api/v1/"


class _SiteOnly:
    """Run the middleware for every request but the API's."""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith(API_PATH_PREFIX):
            return self.get_response(request)
        return super().__call__(request)


class SessionMiddleware(_SiteOnly, sessions.SessionMiddleware):
    pass


class AuthenticationMiddleware(_SiteOnly, auth.AuthenticationMiddleware):
    pass


class MessageMiddleware(_SiteOnly, messages.MessageMiddleware):
    pass
