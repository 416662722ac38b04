from django.urls import path

from bench import bare_views
from clarm.urls import urlpatterns as clarm_urlpatterns

urlpatterns = [
    path("bench/bare", bare_views.bare_insert, name="bench-bare"),
    *clarm_urlpatterns,
]
