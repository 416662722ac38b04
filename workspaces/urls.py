from django.urls import path

from workspaces import views

app_name = "workspaces"
urlpatterns = [
    path("", views.landing, name="landing"),
    path("app/", views.home, name="home"),
    path("app/new/", views.WorkspaceCreateView.as_view(), name="create"),
    path("invitations/<str:token>/", views.InvitationView.as_view(), name="invitation"),
    path("w/<slug:ws>/install/", views.InstallView.as_view(), name="install"),
    path("w/<slug:ws>/settings/", views.SettingsView.as_view(), name="settings"),
    path("w/<slug:ws>/settings/members/", views.MembersView.as_view(), name="members"),
    path("w/<slug:ws>/settings/members/invite/", views.MemberInviteView.as_view(), name="member_invite"),
    path("w/<slug:ws>/settings/members/<int:membership_id>/role/", views.MemberRoleView.as_view(), name="member_role"),
    path(
        "w/<slug:ws>/settings/members/<int:membership_id>/remove/",
        views.MemberRemoveView.as_view(),
        name="member_remove",
    ),
    path(
        "w/<slug:ws>/settings/invitations/<int:invitation_id>/revoke/",
        views.InvitationRevokeView.as_view(),
        name="invitation_revoke",
    ),
    path("w/<slug:ws>/settings/keys/", views.KeysView.as_view(), name="keys"),
    path("w/<slug:ws>/settings/audit/", views.AuditLogView.as_view(), name="audit"),
]
