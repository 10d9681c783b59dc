"""The actions floor's part of a customer's data rights: the actions about them and their
history, exported or anonymised (``feedback.privacy`` orchestrates every floor).

Anonymising keeps every action and its figures (status, deadlines, who worked it, what was
done), and replaces what quotes the customer: the action's words and summary, their replies
and answers in the history, the words published to the wall as recorded there, and the
loop-closing messages written to them. Set-based: one UPDATE per table for a batch.
"""

from datetime import datetime

from django.db.models import Func, Q

from accounts.privacy import ERASED, mentions_q, needles_for, replaced
from surveys.models import Customer
from surveys.privacy import RandomToken

from .models import Action, ActionEvent, ActionResponse, LoopMessage

#: History entries whose text is the customer's own words (or what was published of them).
QUOTING_KINDS = [
    ActionEvent.Kind.CUSTOMER_REPLY,
    ActionEvent.Kind.RESPONSE_CHANGED,
    ActionEvent.Kind.PUBLISHED,
    ActionEvent.Kind.UNPUBLISHED,
]
#: Keys of ``ActionEvent.data`` that copy the customer's words (an email's subject, the quote
#: as published and as written, the summary of their answers).
QUOTING_KEYS = ["subject", "original", "quote", "summary"]


class _WithoutKeys(Func):
    """``data`` without the QUOTING_KEYS, computed in the database (one UPDATE per batch)."""

    output_field = ActionEvent._meta.get_field("data")

    def as_postgresql(self, compiler, connection, **extra):
        column, params = compiler.compile(self.source_expressions[0])
        keys = ",".join(QUOTING_KEYS)
        return f"({column} - '{{{keys}}}'::text[])", params

    def as_sqlite(self, compiler, connection, **extra):
        column, params = compiler.compile(self.source_expressions[0])
        paths = ", ".join(f"'$.{key}'" for key in QUOTING_KEYS)
        return f"json_remove({column}, {paths})", params


def _their_actions(customer_ids: list[int]):
    """Actions about these customers: opened by their feedback, or with it linked (merged)."""
    linked = ActionResponse.objects.filter(response__customer_id__in=customer_ids)
    return Action.objects.filter(
        Q(customer_id__in=customer_ids) | Q(pk__in=linked.values("action_id"))
    )


def _iso(moment):
    return moment.isoformat() if moment else None


def actions_export(*, customer: Customer, include_notes: bool) -> list[dict]:
    """The actions about one customer and what was done, with their history (staff notes
    only when ``include_notes``)."""
    actions = (
        _their_actions([customer.pk])
        .select_related("owner__user", "touchpoint")
        .prefetch_related("events__actor__user", "loop_messages")
        .order_by("created_at")
    )
    out = []
    for action in actions:
        events = [
            {
                "kind": event.kind,
                "at": _iso(event.created_at),
                "by": event.actor.display_name if event.actor else None,
                "text": event.text,
            }
            for event in sorted(action.events.all(), key=lambda e: (e.created_at, e.pk))
            if include_notes or event.kind != ActionEvent.Kind.NOTE
        ]
        messages = [
            {
                "subject": message.subject,
                "body": message.body,
                "sent_at": _iso(message.queued_at),
                "did_this_sort_it_out": message.outcome or None,
                "comment": message.outcome_comment,
            }
            for message in action.loop_messages.all()
            if message.response.customer_id == customer.pk
        ]
        out.append(
            {
                "kind": action.kind,
                "status": action.status,
                "touchpoint": action.touchpoint.name if action.touchpoint else None,
                "owner": action.owner.display_name if action.owner else None,
                "your_words": action.words if action.customer_id == customer.pk else None,
                "opened_at": _iso(action.created_at),
                "first_promised_by": _iso(action.first_due_at),
                "due_at": _iso(action.due_at),
                "closed_at": _iso(action.closed_at),
                "what_we_did": action.resolution,
                "history": events,
                "messages_to_you": messages,
            }
        )
    return out


def actions_anonymise(*, customer_ids: list[int], texts: list[str], now: datetime) -> int:
    """Replace what quotes these customers in actions and their history; ``texts`` (their
    addresses, names and words, for one erasure; empty for the retention sweep's batches) are
    also replaced wherever staff quoted them (notes, what we did, loop messages). Returns how
    many actions changed."""
    own = Action.objects.filter(customer_id__in=customer_ids)
    changed = own.exclude(words="", summary="").exclude(words=ERASED, summary=ERASED)
    count = changed.update(words=ERASED, summary=ERASED)
    events = ActionEvent.objects.filter(action__in=own, kind__in=QUOTING_KINDS)
    events.exclude(text="").exclude(text=ERASED).update(text=ERASED)
    has_keys = Q()
    for key in QUOTING_KEYS:
        has_keys |= Q(data__has_key=key)
    events.filter(has_keys).update(data=_WithoutKeys("data"))
    messages = LoopMessage.objects.filter(response__customer_id__in=customer_ids)
    messages.exclude(outcome_comment="").exclude(outcome_comment=ERASED).update(
        outcome_comment=ERASED
    )
    messages.exclude(subject=ERASED).update(
        subject=ERASED,
        body=ERASED,
        # The "Did this sort it out?" link stops working with the rest of their links.
        token=RandomToken(),
    )
    needles = needles_for(texts)
    if needles:
        theirs = _their_actions(customer_ids)
        ActionEvent.objects.filter(Q(action__in=theirs), mentions_q(["text"], needles)).update(
            text=replaced("text", needles)
        )
        theirs.filter(mentions_q(["resolution"], needles)).update(
            resolution=replaced("resolution", needles)
        )
    return count
