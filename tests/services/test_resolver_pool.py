"""An App's resolver pool: one resolver per settings, kept between runs, bounded, none closed while held."""

from __future__ import annotations

from email_infrastructure.services.resolver_pool import ResolverPool

SERVERS = ["127.0.0.1:5399"]


async def test_the_same_settings_get_the_same_resolver_and_other_settings_another() -> None:
    pool = ResolverPool()
    async with pool.lease(SERVERS, 2.0) as first, pool.lease(SERVERS, 2.0) as concurrent:
        assert concurrent is first
    async with pool.lease(SERVERS, 2.0) as later:
        assert later is first
    async with pool.lease(SERVERS, 5.0) as slower:
        assert slower is not first and slower.timeout == 5.0
    assert len(pool) == 2
    await pool.close()
    assert len(pool) == 0


async def test_the_least_recently_used_resolver_goes_past_the_bound_but_not_while_held() -> None:
    pool = ResolverPool(size=1)
    async with pool.lease(SERVERS, 1.0) as held:
        async with pool.lease(SERVERS, 2.0):
            pass
        assert len(pool) == 1  # the idle one went, the held one stays
        async with pool.lease(SERVERS, 3.0):
            pass
        async with pool.lease(SERVERS, 1.0) as again:
            assert again is held
    async with pool.lease(SERVERS, 2.0):
        pass
    assert len(pool) == 1
    async with pool.lease(SERVERS, 1.0) as renewed:
        assert renewed is not held  # closed when it was the least recently used and idle
    await pool.close()
