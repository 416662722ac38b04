from django.urls import path

from agents import api, views

app_name = "agents"
urlpatterns = [
    path("w/<slug:ws>/summary/", views.SummaryPreviewView.as_view(), name="summary"),
    path("w/<slug:ws>/settings/agents/", views.AgentsSettingsView.as_view(), name="settings"),
    path("w/<slug:ws>/inbox/", views.InboxView.as_view(), name="inbox"),
    path("w/<slug:ws>/inbox/<int:pk>/", views.ThreadView.as_view(), name="thread"),
    # Agent and conversations API (secret key). See docs/agents.md.
    path("api/agents/actions", api.AgentActionApi.as_view(), name="api_agent_actions"),
    path("api/conversations", api.ConversationListApi.as_view(), name="api_conversations"),
    path("api/conversations/<int:pk>/messages", api.ConversationMessageApi.as_view(), name="api_conversation_messages"),
    path("w/<slug:ws>/summary.pdf", views.SummaryPdfView.as_view(), name="summary_pdf"),
]
