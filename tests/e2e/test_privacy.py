"""The customer deletes what they told a business, in Chromium: the survey page offers it,
asks for confirmation, says it is under way; the sweep erases them and the link stops
working."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_lets_the_customer_delete_what_they_told_us(new_page, org):
    from django.utils import timezone

    from accounts.privacy import ERASED
    from feedback.privacy import erasure_requests_carry_out
    from surveys.models import Customer, ErasureRequest, Response
    from tests.factories import make_customer, make_invitation, make_response, make_touchpoint

    customer = make_customer(org, email="lena.voss@example.org", name="Lena Voss")
    invitation = make_invitation(make_touchpoint(org), customer=customer)
    make_response(invitation, answers={0: False}, verbatim="The saddle came loose twice.")

    page = new_page(width=360, height=740)
    page.goto(f"/s/{invitation.token}/")
    page.get_by_role("link", name="Delete what I told you").click()
    page.wait_for_load_state()
    assert ErasureRequest.objects.count() == 0  # opening the question records nothing
    page.get_by_role("button", name="Yes, delete what I told you").click()
    page.get_by_text("Your data is being deleted; it takes a minute").wait_for()
    assert ErasureRequest.objects.get().done_at is None

    assert erasure_requests_carry_out(now=timezone.now()) == 1  # what beat runs every 10 s
    customer.refresh_from_db()
    assert customer.email == "" and customer.name == "" and customer.erased_at
    assert Response.objects.get().verbatim == ERASED
    assert not Customer.objects.filter(email="lena.voss@example.org").exists()
    answer = page.goto(f"/s/{invitation.token}/")
    assert answer.status == 404
