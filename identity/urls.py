from django.urls import path

from identity import views

app_name = "identity"
urlpatterns = [
    path("w/<slug:ws>/customers/", views.CustomersView.as_view(), name="customers"),
    path("w/<slug:ws>/live/", views.LiveView.as_view(), name="live"),
    path("w/<slug:ws>/privacy/", views.PrivacyView.as_view(), name="privacy"),
]
