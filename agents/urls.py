from django.urls import path

from agents import views

app_name = "agents"
urlpatterns = [
    path("w/<slug:ws>/summary/", views.SummaryPreviewView.as_view(), name="summary"),
    path("w/<slug:ws>/summary.pdf", views.SummaryPdfView.as_view(), name="summary_pdf"),
]
