"""How the OpenAPI schema is generated: drf-spectacular's AutoSchema, one rule changed."""

from drf_spectacular import openapi


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's schema of an operation, without `security: [{}]` on open ones."""

    def get_auth(self):
        auths = super().get_auth()
        # drf-spectacular writes `[{}]` ("no credentials needed") on every operation that
        # allows anyone. With no global requirement it says nothing more than leaving
        # `security` out, and client generators read any `security` as "needs credentials",
        # so the catalogue would ask for a token. Operations that take credentials (the cart
        # token, an authentication class) keep theirs.
        return [] if auths == [{}] else auths
