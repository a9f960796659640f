"""Behind a reverse proxy the client's own address counts, and only trusted hops are believed."""

from __future__ import annotations

from ipaddress import ip_network

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given
from hypothesis import strategies as st

from bot.web.server import client_address, proxied

PROXY = [ip_network("10.0.0.0/8")]


def test_the_proxy_reports_the_client() -> None:
    assert client_address("10.0.0.5", "203.0.113.7", PROXY) == "203.0.113.7"


def test_a_client_cannot_spoof_by_writing_the_header_itself() -> None:
    # The client wrote "1.2.3.4"; the proxy appended the address it really saw.
    assert client_address("10.0.0.5", "1.2.3.4, 203.0.113.7", PROXY) == "203.0.113.7"


def test_a_direct_client_is_not_believed() -> None:
    assert client_address("198.51.100.9", "1.2.3.4", PROXY) == "198.51.100.9"


def test_chained_trusted_proxies_are_skipped() -> None:
    assert client_address("10.0.0.5", "203.0.113.7, 10.1.1.1", PROXY) == "203.0.113.7"


def test_garbage_falls_back_to_the_peer() -> None:
    assert client_address("10.0.0.5", "not-an-ip", PROXY) == "10.0.0.5"


@given(st.lists(st.ip_addresses(v=4).map(str), max_size=4))
def test_the_answer_is_the_peer_or_an_untrusted_hop(hops: list[str]) -> None:
    answer = client_address("10.0.0.5", ", ".join(hops), PROXY)
    assert answer == "10.0.0.5" or (
        answer in hops and ip_network(answer).subnet_of(PROXY[0]) is False
    )


async def test_the_middleware_rewrites_request_remote() -> None:
    async def whoami(request: web.Request) -> web.Response:
        return web.Response(text=str(request.remote))

    app = web.Application(middlewares=[proxied([ip_network("127.0.0.1/32")])])
    app.router.add_get("/", whoami)
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/", headers={"X-Forwarded-For": "203.0.113.7"})
        assert await response.text() == "203.0.113.7"
