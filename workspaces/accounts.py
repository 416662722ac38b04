"""Users made from the command line: an account with a verified email that can log in."""

from allauth.account.adapter import get_adapter
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction


@transaction.atomic
def user_ensure_verified(*, email: str, password: str | None = None) -> tuple[User, bool]:
    """The user with that email (created if missing, with an unusable password unless one is given),
    with the address recorded as primary and verified. Returns (user, created)."""
    email = email.strip().lower()
    user = get_user_model().objects.filter(email__iexact=email).order_by("pk").first()
    created = user is None
    if user is None:
        user = get_user_model()(email=email)
        get_adapter().populate_username(None, user)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save()
    elif password and not user.check_password(password):
        user.set_password(password)
        user.save(update_fields=["password"])
    address = EmailAddress.objects.filter(user=user, email__iexact=email).first()
    if address is None:
        EmailAddress.objects.create(user=user, email=email, primary=True, verified=True)
    elif not address.verified:
        address.verified = True
        address.save(update_fields=["verified"])
    return user, created
