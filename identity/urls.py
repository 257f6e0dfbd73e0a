from django.urls import path

from identity import views

app_name = "identity"
urlpatterns = [
    path("tokens/", views.tokens, name="tokens"),
    path("access/", views.my_access, name="my-access"),
    path("tokens/<uuid:token_id>/revoke/", views.revoke, name="revoke-token"),
]
