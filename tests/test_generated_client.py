"""A typed client generated from the schema the server serves runs the storefront walkthrough.

openapi-python-client reads `/api/schema/` of a live `runserver` (once per module) and writes
a package to a temporary directory; the test imports it and walks a shopper through it
against the same server: list products (filtered by SKU), create a cart and keep its token,
hold, get `409 insufficient_stock` with `available` and hold that instead, check out with an
`Idempotency-Key`, and repeat the checkout to get the same order. Any warning of the
generator fails the module: when it cannot read part of the schema, the schema is fixed.
Clients are built with `raise_on_unexpected_status`, so an answer whose status the schema
does not list fails too.

The walk is one test of steps, each a function taking what the previous ones made. A
second walk runs the back office with a Bearer key, against a server with a payment window:
the ERP puts a product by SKU and receives its stock with an Idempotency-Key, a shopper
checks out (the order is `pending_payment`), and the shop's server confirms the payment,
after which the stock read shows the units sold.
"""

import importlib
import inspect
import subprocess
import sys
import typing
import urllib.request
import uuid
from dataclasses import dataclass
from decimal import Decimal
from types import ModuleType

import pytest

from store.services import product_create
from tests.celery_processes import process_env
from tests.servers import runserver

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PACKAGE = "stockhold_client"


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, tmp_path_factory):
    """runserver on the test database, DEBUG off, for the whole module."""
    log = tmp_path_factory.mktemp("web") / "web.log"
    with runserver(process_env(ALLOWED_HOSTS="127.0.0.1,localhost"), log) as (_, base):
        yield base


@pytest.fixture(scope="module")
def sdk(server, tmp_path_factory) -> ModuleType:
    """The client package generated from the live server's schema, imported."""
    out = tmp_path_factory.mktemp("client")
    schema = out / "openapi.json"
    with urllib.request.urlopen(server + "/api/schema/?format=json", timeout=30) as response:
        schema.write_bytes(response.read())
    # No post hooks: the generated code is imported, never formatted or linted.
    config = out / "config.json"
    config.write_text(f'{{"post_hooks": [], "package_name_override": "{PACKAGE}"}}')
    result = subprocess.run(  # noqa: S603 - the generator, installed with the dev extra
        [
            sys.executable, "-m", "openapi_python_client", "generate",
            "--path", str(schema), "--output-path", str(out / PACKAGE),
            "--meta", "none", "--config", str(config), "--fail-on-warning",
        ],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, f"the schema did not generate:\n{result.stdout}{result.stderr}"
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(out))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


@dataclass
class Clients:
    """The generated package's clients for one server, and its operations by id."""

    sdk: ModuleType
    base_url: str

    def storefront(self):
        """No credentials: the catalogue, a new cart."""
        return self.sdk.Client(base_url=self.base_url, raise_on_unexpected_status=True)

    def cart(self, token: str):
        """One cart's calls: its token in `X-Cart-Token`, the `CartToken` security scheme."""
        return self.sdk.AuthenticatedClient(
            base_url=self.base_url, token=token, prefix="", auth_header_name="X-Cart-Token",
            raise_on_unexpected_status=True,
        )

    def back_office(self, key: str):
        """The back office's calls: `Authorization: Bearer <key>`."""
        return self.sdk.AuthenticatedClient(
            base_url=self.base_url, token=key, raise_on_unexpected_status=True
        )

    def op(self, tag: str, operation_id: str) -> ModuleType:
        """The module of one operation: `op("carts", "cart_item_set").sync(...)`."""
        return importlib.import_module(f"{PACKAGE}.api.{tag}.{operation_id}")

    @property
    def models(self) -> ModuleType:
        return importlib.import_module(f"{PACKAGE}.models")


@pytest.fixture
def clients(sdk, server) -> Clients:
    return Clients(sdk, server)


@pytest.fixture(scope="module")
def paying_server(django_db_setup, django_db_blocker, tmp_path_factory):
    """A second runserver whose checkouts hold the units for a 15-minute payment window."""
    log = tmp_path_factory.mktemp("web") / "web.log"
    env = process_env(ALLOWED_HOSTS="127.0.0.1,localhost", ORDER_PAYMENT_WINDOW_SECONDS="900")
    with runserver(env, log) as (_, base):
        yield base


@dataclass
class Shelf:
    tee: int
    mug: int
    cap: int


def _shelf() -> Shelf:
    return Shelf(
        tee=product_create(sku="WALK-TEE", name="Tee", price=Decimal("19.90"), on_hand=5).pk,
        mug=product_create(sku="WALK-MUG", name="Mug", price=Decimal("9.90"), on_hand=2).pk,
        cap=product_create(sku="WALK-CAP", name="Cap", price=Decimal("15.50"), on_hand=9).pk,
    )


def _browse(clients: Clients, shelf: Shelf) -> None:
    """The page shows the tee and the mug: list those two, with what is available."""
    page = clients.op("products", "products_list").sync(
        client=clients.storefront(), sku=["WALK-TEE", "WALK-MUG"]
    )
    assert isinstance(page, clients.models.PaginatedProductOutputList)
    assert page.count == 2
    assert [(p.id, p.sku, p.price, p.available) for p in page.results] == [
        (shelf.tee, "WALK-TEE", "19.90", 5),
        (shelf.mug, "WALK-MUG", "9.90", 2),
    ]


def _hold(clients: Clients, shelf: Shelf) -> tuple[uuid.UUID, str]:
    """Create a cart, keep its token, hold two tees; ask for too many mugs, get 409
    insufficient_stock with `available`, and hold that many. Return (cart id, token)."""
    models = clients.models
    created = clients.op("carts", "cart_create").sync(client=clients.storefront())
    assert isinstance(created, models.CartCreatedOutput)
    assert created.status == models.CartStatusEnum.OPEN and created.items == []
    cart = clients.cart(created.token)
    item_set = clients.op("carts", "cart_item_set")

    held = item_set.sync(
        created.id, shelf.tee, client=cart, body=models.CartItemInputRequest(quantity=2)
    )
    assert isinstance(held, models.CartOutput)
    assert [(i.sku, i.quantity, i.status) for i in held.items] == [
        ("WALK-TEE", 2, models.LineStatusEnum.ACTIVE)
    ]

    refused = item_set.sync_detailed(
        created.id, shelf.mug, client=cart, body=models.CartItemInputRequest(quantity=10)
    )
    assert refused.status_code == 409
    assert isinstance(refused.parsed, models.ErrorOutput)
    assert refused.parsed.code == models.ErrorCodeEnum.INSUFFICIENT_STOCK
    assert refused.parsed.available == 2

    held = item_set.sync(
        created.id, shelf.mug, client=cart,
        body=models.CartItemInputRequest(quantity=refused.parsed.available),
    )
    assert sorted((i.sku, i.quantity) for i in held.items) == [("WALK-MUG", 2), ("WALK-TEE", 2)]
    mug = clients.op("products", "product_get").sync(shelf.mug, client=clients.storefront())
    assert mug.available == 0
    return created.id, created.token


def _checkout(clients: Clients, cart_id: uuid.UUID, token: str):
    """Check out with an Idempotency-Key; the repeat answers the same order. Return it."""
    models = clients.models
    cart = clients.cart(token)
    checkout = clients.op("checkout", "cart_checkout")
    key = str(uuid.uuid4())

    first = checkout.sync_detailed(cart_id, client=cart, idempotency_key=key)
    assert first.status_code == 201
    order = first.parsed
    assert isinstance(order, models.OrderOutput)
    assert (order.cart_id, order.status, order.total) == (
        cart_id, models.OrderStatusEnum.PLACED, "59.60"
    )
    assert sorted((line.sku, line.quantity, line.line_total) for line in order.lines) == [
        ("WALK-MUG", 2, "19.80"), ("WALK-TEE", 2, "39.80")
    ]

    again = checkout.sync_detailed(cart_id, client=cart, idempotency_key=key)
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.parsed.id == order.id

    after = clients.op("carts", "cart_get").sync(cart_id, client=cart)
    assert (after.status, after.order_id) == (models.CartStatusEnum.CHECKED_OUT, order.id)
    assert {i.status for i in after.items} == {models.LineStatusEnum.CONSUMED}
    return order


def test_storefront_walkthrough_through_the_generated_client(clients):
    shelf = _shelf()
    _browse(clients, shelf)
    cart_id, token = _hold(clients, shelf)
    _checkout(clients, cart_id, token)


def _stock_sync(clients: Clients, key: str) -> None:
    """The ERP puts a product by SKU and receives its stock, with an Idempotency-Key."""
    models = clients.models
    office = clients.back_office(key)
    put = clients.op("back_office", "backoffice_product_put").sync_detailed(
        "WALK-HAT", client=office,
        body=models.ProductPutInputRequest(name="Hat", price="12.00", is_active=True),
    )
    assert put.status_code == 201
    batch = [models.StockItemInputRequest.from_dict({"sku": "WALK-HAT", "delta": 4})]
    applied = clients.op("back_office", "backoffice_stock_apply").sync_detailed(
        client=office, body=batch, idempotency_key=str(uuid.uuid4())
    )
    assert applied.status_code == 200, applied.content
    listed = clients.op("back_office", "backoffice_stock_list").sync(
        client=office, sku=["WALK-HAT"]
    )
    assert [(r.sku, r.on_hand, r.available) for r in listed.results] == [("WALK-HAT", 4, 4)]


def _pay(clients: Clients, key: str, order) -> None:
    """The payment went through: the shop's server confirms it; the units are sold."""
    models = clients.models
    office = clients.back_office(key)
    assert order.status == models.OrderStatusEnum.PENDING_PAYMENT
    assert order.payment_expires_at is not None
    confirmed = clients.op("back_office", "backoffice_order_confirm").sync(
        order.id, client=office
    )
    assert confirmed.status == models.OrderStatusEnum.PLACED
    listed = clients.op("back_office", "backoffice_stock_list").sync(
        client=office, sku=["WALK-HAT"]
    )
    assert [(r.sku, r.on_hand, r.available) for r in listed.results] == [("WALK-HAT", 1, 1)]


def test_back_office_walkthrough_with_a_payment_window(sdk, paying_server):
    from backoffice.services import api_key_create

    clients = Clients(sdk, paying_server)
    models = clients.models
    key = api_key_create(name="walkthrough")[1]
    _stock_sync(clients, key)
    hat = clients.op("products", "products_list").sync(
        client=clients.storefront(), sku=["WALK-HAT"]
    ).results[0]
    created = clients.op("carts", "cart_create").sync(client=clients.storefront())
    cart = clients.cart(created.token)
    clients.op("carts", "cart_item_set").sync(
        created.id, hat.id, client=cart, body=models.CartItemInputRequest(quantity=3)
    )
    order = clients.op("checkout", "cart_checkout").sync(
        created.id, client=cart, idempotency_key=str(uuid.uuid4())
    )
    _pay(clients, key, order)


def test_a_wrong_cart_token_is_cart_not_found_through_the_generated_client(clients):
    models = clients.models
    created = clients.op("carts", "cart_create").sync(client=clients.storefront())
    answer = clients.op("carts", "cart_get").sync_detailed(
        created.id, client=clients.cart(created.token[::-1])
    )
    assert answer.status_code == 404
    assert answer.parsed.code == models.ErrorCodeEnum.CART_NOT_FOUND
    assert clients.op("carts", "cart_get").sync(created.id, client=clients.cart(created.token))


def test_the_generated_client_needs_no_credentials_for_the_catalogue(sdk):
    """Open operations take the plain client; cart operations demand the authenticated one."""

    def clients_taken(tag: str, operation_id: str) -> set:
        module = importlib.import_module(f"{PACKAGE}.api.{tag}.{operation_id}")
        annotation = inspect.signature(module.sync).parameters["client"].annotation
        return set(typing.get_args(annotation)) or {annotation}

    either = {sdk.Client, sdk.AuthenticatedClient}
    assert clients_taken("products", "products_list") == either
    assert clients_taken("carts", "cart_create") == either
    assert clients_taken("health", "health_live_get") == either
    for tag, operation_id in [
        ("carts", "cart_get"), ("carts", "cart_item_set"), ("carts", "cart_item_remove"),
        ("checkout", "cart_checkout"),
    ]:
        assert clients_taken(tag, operation_id) == {sdk.AuthenticatedClient}, operation_id
