"""The one rule of a row id given in a URL, for every API that looks a row up by it."""

# The largest id a PostgreSQL bigint holds.
_MAX_ID = 2**63 - 1


def id_parse(value: str) -> int | None:
    """Return the row id that `value` (a URL path segment) names, or None if it names none.

    ASCII digits only (int() also takes "١٢", "１２", " 12", "+12" and "1_2"), from 1 to the
    largest bigint: int() of over 4,300 digits is a ValueError, and a larger number a
    database error.
    """
    if not (value.isascii() and value.isdigit()) or len(value) > 19:
        return None
    pk = int(value)
    return pk if 0 < pk <= _MAX_ID else None
