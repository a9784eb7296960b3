from django.urls import path

from orders import views

urlpatterns = [
    path("", views.index, name="index"),
    path("health", views.health, name="health"),
    path("orders/<str:reference>", views.order, name="order"),
]
