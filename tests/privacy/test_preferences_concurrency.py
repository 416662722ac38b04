"""The preferences page and a stitch batch changing the same person at once (PostgreSQL's row locks)."""

import threading
import time

import pytest
from django.db import transaction

from identity.models import ConsentSource, Customer, CustomerStatus
from identity.privacy.services import preferences_update
from identity.stitching.partitions import partition_lock
from tests.identity.helpers import run_in_threads


@pytest.mark.postgres_only(reason="row and advisory locks; the embedded default has one writer at a time")
@pytest.mark.django_db(transaction=True)
def test_the_page_and_a_batch_applying_an_opt_out_to_a_merged_person_do_not_deadlock(tenant):
    """A stitch batch holds its partition and the live customer (locked by its lookup) when it
    applies an opt-out event, which locks the person's customers in key order: a merged one of a
    lower key next. The page, saving the same person's preferences meanwhile, locked that merged
    customer first and waited for the live one: a deadlock, and the page answered 500."""
    ws = tenant.workspace
    merged = Customer.objects.create(workspace=ws, status=CustomerStatus.MERGED)
    live = Customer.objects.create(workspace=ws)
    Customer.objects.filter(pk=merged.pk).update(merged_into=live)
    batch_holds = threading.Event()

    def writer(n: int) -> None:
        if n == 0:  # the batch
            with transaction.atomic():
                partition_lock(ws.pk)
                Customer.objects.select_for_update(no_key=True).filter(pk=live.pk).get()  # its lookup
                batch_holds.set()
                time.sleep(0.3)  # the page reaches its locks meanwhile
                preferences_update(
                    workspace=ws, customer=live, changes={"analytics": False}, source=ConsentSource.BANNER
                )
        else:  # the page
            assert batch_holds.wait(10)
            preferences_update(
                workspace=ws, customer=merged, changes={"marketing_email": False}, source=ConsentSource.PREFERENCES
            )

    assert run_in_threads(2, writer) == []
    live.refresh_from_db()
    assert (live.allow_analytics, live.allow_marketing_email) == (False, False)
    assert not Customer.objects.get(pk=merged.pk).allow_marketing_email
