"""The API's actions part: read actions with their owner, deadlines and history.

A django-ninja ``Router`` mounted by ``feedback.api``; tokens, scopes, rate limits, errors and
the keyset cursor are ``surveys.api``'s, so every endpoint behaves alike.
"""

from ninja import Field, Query, Router, Schema

from surveys.api import (
    READ,
    ApiError,
    CustomerRef,
    DateTime,
    PageFilters,
    Uuid,
    cursor_read,
    error_responses,
    page_answer,
)

from . import queries
from .models import Action, ActionEvent


class Person(Schema):
    email: str
    name: str


class EventOut(Schema):
    at: DateTime
    kind: str
    text: str
    by: Person | None


class ActionOut(Schema):
    id: Uuid
    kind: str
    status: str = Field(description=" | ".join(Action.Status.values))
    owner: Person | None
    customer: CustomerRef
    touchpoint: str | None
    words: str = Field(description="The customer's own words.")
    summary: str
    created_at: DateTime
    due_at: DateTime = Field(description="The deadline in force.")
    first_due_at: DateTime | None = Field(description="The first deadline it was given.")
    closed_at: DateTime | None
    resolution: str = Field(description="What was done, or why not.")
    history: list[EventOut] = Field(description="Everything that happened to it, oldest first.")


class ActionPage(Schema):
    results: list[ActionOut]
    next: str | None = Field(description="The next page's URL, or null on the last page.")


class ActionFilters(PageFilters):
    status: Action.Status | None = Field(None, description="Only actions in this status.")


def _person(member) -> dict | None:
    if member is None:
        return None
    return {"email": member.user.email, "name": member.display_name}


def _when(value) -> str | None:
    return value.isoformat() if value else None


def _event_json(event: ActionEvent) -> dict:
    return {
        "at": event.created_at.isoformat(),
        "kind": event.kind,
        "text": event.text,
        "by": _person(event.actor),
    }


def action_json(action: Action) -> dict:
    return {
        "id": str(action.code),
        "kind": action.kind,
        "status": action.status,
        "owner": _person(action.owner),
        "customer": {"email": action.customer.email},
        "touchpoint": action.touchpoint.slug if action.touchpoint else None,
        "words": action.words,
        "summary": action.summary,
        "created_at": action.created_at.isoformat(),
        "due_at": action.due_at.isoformat(),
        "first_due_at": _when(action.first_due_at),
        "closed_at": _when(action.closed_at),
        "resolution": action.resolution,
        "history": [_event_json(e) for e in action.events.all()],
    }


router = Router(tags=["read"])


@router.get(
    "/actions",
    auth=READ,
    url_name="actions",
    summary="Actions with their owner, deadlines and history, newest first.",
    response={200: ActionPage} | error_responses(400, 401, 403, 429),
)
def actions_list(request, filters: Query[ActionFilters]):
    rows = queries.api_actions_page(
        org=request.auth.org,
        since=filters.since,
        until=filters.until,
        touchpoint=filters.touchpoint,
        status=filters.status,
        after=cursor_read(filters.cursor),
        limit=filters.limit + 1,
    )
    return page_answer(request, rows, filters.limit, lambda a: (a.created_at, a.pk), action_json)


@router.get(
    "/actions/{code}",
    auth=READ,
    url_name="action",
    summary="One action by its id.",
    response={200: ActionOut} | error_responses(401, 403, 404, 429),
)
def action_detail(request, code: str):
    action = queries.api_action(org=request.auth.org, code=code)
    if action is None:
        raise ApiError(404, {"id": ["This business has no action with that id."]})
    return action_json(action)
