"""The demo's worker task: the reset the owner asked for (clarm.demo.services.demo_reset_request)."""

from clarm.demo.loading import demo_data_reset
from clarm.tasks_retry import db_task


@db_task("clarm.demo_reset", max_retries=2, long_running=True)
def demo_reset(workspace_id: int) -> int:
    """Erase the demo workspace's data and load it again; returns the events and deliveries stored."""
    result = demo_data_reset(workspace_id=workspace_id)
    return result.accepted if result is not None else 0
