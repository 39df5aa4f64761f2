from django.urls import path

from reservations import api

urlpatterns = [
    path("products/", api.ProductListApi.as_view(), name="product-list"),
    path("products/<str:product_id>/", api.ProductDetailApi.as_view(), name="product-detail"),
    path("carts/", api.CartCreateApi.as_view(), name="cart-create"),
    path("carts/<str:cart_id>/", api.CartDetailApi.as_view(), name="cart-detail"),
    path(
        "carts/<str:cart_id>/items/<str:product_id>/",
        api.CartItemApi.as_view(),
        name="cart-item",
    ),
    path("carts/<str:cart_id>/checkout/", api.CartCheckoutApi.as_view(), name="cart-checkout"),
]
