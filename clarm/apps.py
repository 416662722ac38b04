from django.apps import AppConfig


class ClarmConfig(AppConfig):
    name = "clarm"
    verbose_name = "Clarm platform"

    def ready(self) -> None:
        from clarm import checks  # noqa: F401  registers the system checks
