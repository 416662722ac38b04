"""What the edge records for the identity ladder (identity.stitching.ladder climbs it).

The edge knows an event's signals (the visits of its device, a phone channel, an account signal);
it stores `ladder_context_value`'s answer in `Event.context["ladder"]` and hands the signals to the
stitcher, whose resolver turns them into a rung (`identity.stitching.ladder.rung_from_event`).
"""

from dataclasses import dataclass

LADDER_PHONE = "phone"
LADDER_ACCOUNT = "account"


@dataclass(frozen=True)
class LadderSignals:
    # Visits (sessions) seen so far for this event's device, this one included (tracking computes
    # it); >= 2 → rung 1.
    device_visit_count: int = 0
    # SMS/WhatsApp/voice message or call with the customer's number, or a click on a tracked link
    # sent by SMS/WhatsApp → rung 3.
    phone_channel: bool = False
    # Booked, paid or signed in → rung 4 (a user_id claim also counts as signed in).
    account: bool = False


def ladder_context_value(signals: LadderSignals) -> str | None:
    """What the caller stores in `Event.context["ladder"]` for an event with these signals."""
    if signals.account:
        return LADDER_ACCOUNT
    if signals.phone_channel:
        return LADDER_PHONE
    return None
