"""The pages everyone can reach render, are accessible, and fit a 360 px phone."""

from tests.e2e.conftest import fits_width


def test_it_shows_the_login_page_accessibly_on_a_phone(new_page, shoot, axe, db):
    page = new_page(width=360, height=740)
    page.goto("/accounts/login/")
    assert page.get_by_label("Email").is_visible()
    shoot(page, "login-phone")
    axe(page, "login page")
    assert fits_width(page)
