import socket
from collections.abc import Iterator

import pytest
from django.db import connections
from django.test import Client

from tracking.writekeys import write_keys_forget


def free_port() -> int:
    """A local port nothing listens on (connections to it are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def raw_client() -> Client:
    """A client that gets the answer a real client would get, instead of the view's exception."""
    return Client(raise_request_exception=False)


@pytest.fixture
def database_down(transactional_db) -> Iterator[None]:
    """PostgreSQL unreachable for the rest of the test (a closed port), back afterwards; the
    process's cached write keys dropped, as on a freshly started web process."""
    conn = connections["default"]
    saved = dict(conn.settings_dict)
    conn.close()
    conn.settings_dict.update(HOST="127.0.0.1", PORT=str(free_port()))
    write_keys_forget()
    try:
        yield
    finally:
        conn.close()
        conn.settings_dict.clear()
        conn.settings_dict.update(saved)
        write_keys_forget()
