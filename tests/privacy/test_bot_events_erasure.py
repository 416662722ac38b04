"""Issue 10: bot-flagged events are never stitched, yet an erasure removes those about the person."""

from identity.privacy.erasure import subject_erase
from tests.privacy.conftest import person_make
from tracking.inputs import EventInput
from tracking.models import Event
from tracking.services import events_ingest

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def test_bot_events_carrying_the_persons_identifiers_are_erased_with_them(tenant):
    ws = tenant.workspace
    person = person_make(ws, email="jane.doe@example.org", devices=("dev-jane",), events_per_device=1)
    bystander = person_make(ws, email="bob@example.net", phone="+14155550999", devices=("dev-bob",))

    def bot(message_id: str, *, visitor_id: str | None = None, email: str | None = None, phone: str | None = None):
        return EventInput(
            event="form_submit",
            user_agent=GOOGLEBOT,
            message_id=message_id,
            visitor_id=visitor_id,
            email=email,
            phone=phone,
        )

    result = events_ingest(
        workspace=ws,
        events=[
            bot("by-email", visitor_id="crawler-1", email="Jane.Doe@example.org"),
            bot("by-phone", phone=person.phone),
            bot("by-device", visitor_id="dev-jane"),
            bot("bystander", email="bob@example.net"),
        ],
    )
    assert result.bots == 4 and result.accepted == 4
    assert Event.objects.filter(is_bot=True, customer=None).count() == 4

    subject_erase(workspace=ws, customer=person.customer)

    left = set(Event.objects.filter(is_bot=True).values_list("message_id", flat=True))
    assert left == {"bystander"}
    assert Event.objects.filter(customer=bystander.customer).exists()
