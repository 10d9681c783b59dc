import pytest

from surveys.models import Customer


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("maya.f@example.net", "A customer"),
        ("Maya Fischer maya.f@example.net", "Maya F."),
        ("maya.f@example.net Fischer", "Fischer"),
        ("Maya <maya.f@example.net>", "Maya"),
        ("https://maya.example.net", "A customer"),
        ("www.example.net", "A customer"),
        ("Bob example.co.uk", "Bob"),
        ("Maya", "Maya"),
        ("Maya Fischer", "Maya F."),
        ("J.R. Tolkien", "J.R. T."),
        ("", "A customer"),
    ],
)
def test_it_never_attributes_a_quote_by_an_address(name, shown):
    assert Customer(name=name).public_name == shown
