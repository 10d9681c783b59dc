import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _empty_cache():
    # The wall caches rendered pages by slug, shared and in this process; every test starts
    # cold.
    from feedback import wallcache

    cache.clear()
    wallcache.forget_local()
    yield
    cache.clear()
    wallcache.forget_local()
