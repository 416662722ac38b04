"""The Django admin's login form, limited like the workspace login: it authenticates through
allauth's adapter, so failed attempts count against allauth's `login_failed` rate (per client
address, by clarm.clientip's trusted-proxy rule, and per login name) and a success takes its own
attempt back."""

from typing import Any

from allauth.account.adapter import get_adapter
from django.contrib.admin.forms import AdminAuthenticationForm


class RateLimitedAdminLoginForm(AdminAuthenticationForm):
    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            # Raises the "too many login attempts" ValidationError once the rate is used up.
            self.user_cache = get_adapter(self.request).authenticate(self.request, username=username, password=password)
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data
