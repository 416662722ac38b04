from clarm.settings.base import *  # noqa: F403
