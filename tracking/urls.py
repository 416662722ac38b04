from django.urls import path

from tracking import views

app_name = "tracking"
urlpatterns = [
    path("api/track", views.track, name="track"),
    path("api/consent", views.consent, name="consent"),
    # Segment's HTTP Tracking API (and RudderStack's, which follows it).
    path("v1/<str:kind>", views.segment, name="segment"),
]
