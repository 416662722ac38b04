import factory
from django.contrib.auth import get_user_model

from workspaces.services import workspace_create


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.Sequence(lambda n: f"user{n}@example.com")
    password = factory.django.Password("correct horse battery staple")


def make_workspace(name: str = "Acme Movers", owner=None, **kwargs):
    """A workspace with its owner; returns (workspace, owner, write_key, secret_key)."""
    owner = owner or UserFactory()
    workspace, write_key, secret_key = workspace_create(name=name, owner=owner, **kwargs)
    return workspace, owner, write_key, secret_key
