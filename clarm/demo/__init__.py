"""The demo workspace's sample business (`make run`, `manage.py demo`), and its reset.

- business: about 500 people of a moving company over eight weeks, from a fixed seed (pure);
- journeys: the two journeys of DESIGN and of the product page;
- replay: sends their steps through the real ingest and webhook code;
- loading: load (then count the rollups) and erase; tasks, services, views: the owner's reset.
"""
