from django.urls import path

from workspaces import views

app_name = "workspaces"
urlpatterns = [
    path("", views.landing, name="landing"),
    path("app/", views.home, name="home"),
]
