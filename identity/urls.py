from django.urls import path

from identity import views, views_dashboard
from identity.api import views as api_views
from identity.privacy import views as privacy_views

app_name = "identity"
urlpatterns = [
    path("w/<slug:ws>/", views_dashboard.DashboardView.as_view(), name="dashboard"),
    path("w/<slug:ws>/customers/", views.CustomersView.as_view(), name="customers"),
    path("w/<slug:ws>/customers.csv", views.CustomersCsvView.as_view(), name="customers_csv"),
    path("w/<slug:ws>/customers/<int:pk>/", views.CustomerView.as_view(), name="customer"),
    path("w/<slug:ws>/customers/<int:pk>/merge", views.CustomerMergeView.as_view(), name="customer_merge"),
    path("w/<slug:ws>/customers/<int:pk>/split", views.CustomerSplitView.as_view(), name="customer_split"),
    path("w/<slug:ws>/live/", views.LiveView.as_view(), name="live"),
    path("w/<slug:ws>/live/events", views.LiveEventsView.as_view(), name="live_events"),
    path("w/<slug:ws>/install/test-event", views.InstallTestView.as_view(), name="install_test"),
    path("w/<slug:ws>/privacy/", privacy_views.WorkspacePrivacyView.as_view(), name="privacy"),
    # Read API (secret key). See docs/api.md.
    path("api/customers", api_views.CustomerLookupApi.as_view(), name="api_customers"),
    # Any segment: an id that is not a whole number is the API's own JSON 404, not Django's HTML one.
    path("api/customers/<str:pk>", api_views.CustomerDetailApi.as_view(), name="api_customer"),
    path("api/customers/<str:pk>/timeline", api_views.CustomerTimelineApi.as_view(), name="api_customer_timeline"),
    path("api/reference/", views.ApiDocsView.as_view(), name="api_reference"),
]
