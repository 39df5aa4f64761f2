from django.urls import path

from backoffice.api.products import ProductApi
from backoffice.api.stock import StockApi

urlpatterns = [
    path("products/<str:sku>/", ProductApi.as_view(), name="backoffice-product"),
    path("stock/", StockApi.as_view(), name="backoffice-stock"),
]
