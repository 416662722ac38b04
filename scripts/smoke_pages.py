"""The smoke run's browser pass (called by scripts/smoke.sh against a running `make run`): see
tests/pages_crawl.py for what it opens and what fails it.

Usage: DJANGO_SETTINGS_MODULE=clarm.settings python scripts/smoke_pages.py http://127.0.0.1:PORT
"""

import sys
from pathlib import Path

import django

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
django.setup()

from tests.pages_crawl import PagesCrawl  # noqa: E402

if __name__ == "__main__":
    sys.exit(PagesCrawl(sys.argv[1]).run())
