from workspaces.keys import key_authenticate
from workspaces.models import ApiKeyKind


def test_new_workspace_has_working_keys(tenant):
    write = key_authenticate(kind=ApiKeyKind.WRITE, plain=tenant.write_key)
    secret = key_authenticate(kind=ApiKeyKind.SECRET, plain=tenant.secret_key)
    assert write is not None
    assert secret is not None
    assert write.workspace == tenant.workspace
    assert secret.workspace == tenant.workspace
    # A secret key is never stored in clear.
    assert secret.lookup != tenant.secret_key
    assert key_authenticate(kind=ApiKeyKind.SECRET, plain=tenant.write_key) is None
