import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _empty_cache():
    # The wall caches rendered pages by slug; every test starts cold.
    cache.clear()
    yield
    cache.clear()
