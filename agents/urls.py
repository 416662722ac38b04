from django.urls import path

from agents import api, booking_views, views, widget_api

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
    # The chat widget (write key, from the business's site). See docs/agents.md.
    path("api/widget", widget_api.widget_config, name="api_widget"),
    path("api/widget/messages", widget_api.widget_message, name="api_widget_messages"),
    path("api/widget/poll", widget_api.widget_poll, name="api_widget_poll"),
    path("w/<slug:ws>/summary.pdf", views.SummaryPdfView.as_view(), name="summary_pdf"),
    # The person's booking page (public, signed link from a Booking assistant confirmation).
    path("booking/<str:token>", booking_views.booking_manage, name="booking_manage"),
]
