"""Reads of the catalogue."""

from collections.abc import Iterable

from core.errors import InvalidInput
from core.ids import id_parse
from store.errors import ProductNotFound
from store.models import Product


def product_get(*, product_id: str) -> Product:
    """Return the product whose id is `product_id` as given in a URL; else ProductNotFound."""
    pk = id_parse(product_id)
    product = Product.objects.filter(pk=pk).first() if pk is not None else None
    if product is None:
        raise ProductNotFound()
    return product


# Most SKUs one query string may name (`?sku=A,B` or `?sku=A&sku=B`).
MAX_SKUS_PER_QUERY = 1000


def sku_list_parse(*, values: Iterable[str]) -> list[str]:
    """Return the SKUs of query values, each one SKU or several separated by commas.

    Empty entries are dropped, and so are entries no SKU can be (a NUL cannot be stored);
    more than MAX_SKUS_PER_QUERY is InvalidInput.
    """
    skus = [sku for value in values for sku in value.split(",") if sku and "\x00" not in sku]
    if len(skus) > MAX_SKUS_PER_QUERY:
        raise InvalidInput(
            f"At most {MAX_SKUS_PER_QUERY} SKUs can be asked for at once, not {len(skus)}.",
            field="sku",
        )
    return list(dict.fromkeys(skus))
