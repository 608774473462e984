"""Query-string parsing of the operator routes and the token-failure throttle."""
from datetime import datetime, timezone

import pytest

from web import params
from web.admin import bearer, is_loopback
from web.params import BadParam
from web.throttle import FailureThrottle


@pytest.mark.parametrize("raw", ["whatsapp:+5511999998888", "+5511999998888", "5511999998888",
                                 "+55 (11) 99999-8888"])
def test_phone_in_any_common_form(raw):
    assert params.phone(raw) == "+5511999998888"


@pytest.mark.parametrize("raw", ["abc", "123", "+55119999988881234567"])
def test_bad_phone_is_a_clear_400(raw):
    with pytest.raises(BadParam, match="not a phone number") as caught:
        params.phone(raw, "session")
    assert caught.value.status == 400


def test_dates_as_utc_with_until_covering_its_whole_day():
    since, until = params.date_range({"since": "2026-11-01", "until": "2026-11-02"})
    assert since == datetime(2026, 11, 1, tzinfo=timezone.utc)
    assert until == datetime(2026, 11, 2, 23, 59, 59, 999999, tzinfo=timezone.utc)
    assert params.moment("2026-11-01T10:00:00-03:00", "since") == datetime(2026, 11, 1, 13, tzinfo=timezone.utc)
    assert params.moment("2026-11-01T10:00:00Z", "since") == datetime(2026, 11, 1, 10, tzinfo=timezone.utc)


@pytest.mark.parametrize("args, message", [
    ({"since": "yesterday"}, "since must be an ISO 8601"),
    ({"until": "2026-13-01"}, "until must be an ISO 8601"),
    ({"since": "2026-11-03", "until": "2026-11-02"}, "since must not be after until"),
])
def test_bad_dates(args, message):
    with pytest.raises(BadParam, match=message):
        params.date_range(args)


@pytest.mark.parametrize("args, message", [
    ({"page": "0"}, "page must be between 1"), ({"page": "x"}, "page must be a whole number"),
    ({"per_page": "1000"}, "per_page must be between 1 and 100"),
])
def test_bad_paging(args, message):
    with pytest.raises(BadParam, match=message):
        params.paging(args, 20, 100)


def test_page_out_of_range_names_the_last_page():
    params.Paging(1, 10).check_in_range(0)
    params.Paging(3, 10).check_in_range(21)
    with pytest.raises(BadParam, match="page 4 is out of range: there are 3 page") as caught:
        params.Paging(4, 10).check_in_range(21)
    assert caught.value.code == "page_out_of_range"


def test_bearer_header_parsing():
    assert bearer(None) is None
    assert bearer("Bearer abc") == "abc"
    assert bearer("bearer   abc ") == "abc"
    assert bearer("Basic abc") == ""


@pytest.mark.parametrize("address, loopback", [("127.0.0.1", True), ("127.8.9.10", True), ("::1", True),
                                               ("::ffff:127.0.0.1", True), ("203.0.113.5", False),
                                               ("10.0.0.1", False), ("", False), (None, False)])
def test_loopback_addresses(address, loopback):
    assert is_loopback(address) is loopback


def test_throttle_blocks_after_free_failures_and_doubles():
    now = [1000.0]
    throttle = FailureThrottle(free_failures=3, base_delay=2, max_delay=60, clock=lambda: now[0])
    for _ in range(2):
        throttle.fail("203.0.113.5")
    assert throttle.retry_after("203.0.113.5") == 0
    throttle.fail("203.0.113.5")
    assert throttle.retry_after("203.0.113.5") == 2
    throttle.fail("203.0.113.5")
    assert throttle.retry_after("203.0.113.5") == 4
    assert throttle.retry_after("198.51.100.7") == 0
    now[0] += 5
    assert throttle.retry_after("203.0.113.5") == 0
    throttle.succeed("203.0.113.5")
    throttle.fail("203.0.113.5")
    assert throttle.retry_after("203.0.113.5") == 0


def test_throttle_table_is_bounded():
    throttle = FailureThrottle(max_addresses=100)
    for i in range(1000):
        throttle.fail(f"198.51.100.{i % 250}-{i}")
    assert len(throttle._records) == 100
