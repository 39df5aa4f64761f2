from django.urls import path

from backoffice.api.orders import OrderApi, OrderCancelApi, OrderConfirmApi
from backoffice.api.products import ProductApi
from backoffice.api.stock import StockApi
from backoffice.api.webhooks import (
    WebhookEndpointDetailApi,
    WebhookEndpointListApi,
    WebhookEndpointSecretApi,
)

urlpatterns = [
    path("products/<str:sku>/", ProductApi.as_view(), name="backoffice-product"),
    path("stock/", StockApi.as_view(), name="backoffice-stock"),
    path("orders/<str:order_id>/", OrderApi.as_view(), name="backoffice-order"),
    path(
        "orders/<str:order_id>/confirm/", OrderConfirmApi.as_view(),
        name="backoffice-order-confirm",
    ),
    path(
        "orders/<str:order_id>/cancel/", OrderCancelApi.as_view(), name="backoffice-order-cancel"
    ),
    path(
        "webhook-endpoints/",
        WebhookEndpointListApi.as_view(),
        name="backoffice-webhook-endpoints",
    ),
    path(
        "webhook-endpoints/<str:endpoint_id>/",
        WebhookEndpointDetailApi.as_view(),
        name="backoffice-webhook-endpoint",
    ),
    path(
        "webhook-endpoints/<str:endpoint_id>/rotate-secret/",
        WebhookEndpointSecretApi.as_view(),
        name="backoffice-webhook-endpoint-rotate-secret",
    ),
]
