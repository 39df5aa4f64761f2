"""Reads of the catalogue."""

from store.errors import ProductNotFound
from store.models import Product


def product_get(*, product_id: str) -> Product:
    """Return the product whose id is `product_id` as given in a URL; else ProductNotFound."""
    # ASCII digits only (int() also takes "١٢", "１２", " 12", "+12" and "1_2"), and no
    # more than a bigint has: int() refuses over 4,300 digits with a ValueError.
    if not (product_id.isascii() and product_id.isdigit()) or len(product_id) > 19:
        raise ProductNotFound()
    pk = int(product_id)
    product = Product.objects.filter(pk=pk).first() if 0 < pk < 2**63 else None
    if product is None:
        raise ProductNotFound()
    return product
