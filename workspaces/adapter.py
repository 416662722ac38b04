"""allauth's adapter for Clarm: its rate limits count by the client address our trusted proxies saw
(clarm.clientip, the rule ingest uses), not by REMOTE_ADDR, which behind a proxy is the proxy's
address and would let one client lock every user out."""

from allauth.account.adapter import DefaultAccountAdapter
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from clarm.clientip import client_ip


class AccountAdapter(DefaultAccountAdapter):
    def get_client_ip(self, request: HttpRequest) -> str:
        ip = client_ip(request)
        if not ip:
            raise PermissionDenied("Unable to determine the client's address.")
        return ip
