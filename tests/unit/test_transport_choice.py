"""Which upstream HTTP client a Client uses: h1 by default, pyreqwest or aiohttp when asked; a typo stops the
gateway."""

import pytest

import tollway
from tollway.proxy.gateway_config import GatewayConfig
from tollway.proxy.settings import GatewaySettings, StartupError
from tollway.transport import default_transport, http_client
from tollway.transport.aiohttp import AiohttpTransport
from tollway.transport.h1 import H1Transport
from tollway.transport.reqwest import ReqwestTransport

KEY = "sk-test-master-key-0123456789abcdef"


def test_default_is_h1_and_the_others_on_request() -> None:
    assert default_transport({}) is H1Transport
    assert default_transport({"TOLLWAY_HTTP_CLIENT": ""}) is H1Transport
    assert default_transport({"TOLLWAY_HTTP_CLIENT": "reqwest"}) is ReqwestTransport
    assert default_transport({"TOLLWAY_HTTP_CLIENT": " AIOHTTP "}) is AiohttpTransport


def test_an_unknown_client_name_is_refused() -> None:
    with pytest.raises(ValueError, match="must be one of h1, reqwest, aiohttp, not 'httpx'"):
        http_client({"TOLLWAY_HTTP_CLIENT": "httpx"})
    with pytest.raises(StartupError, match="TOLLWAY_HTTP_CLIENT must be"):
        GatewaySettings.from_config(GatewayConfig(master_key=KEY), environ={"TOLLWAY_HTTP_CLIENT": "curl"})


def test_a_client_builds_its_transport_from_its_own_environ() -> None:
    assert tollway.Client(environ={"TOLLWAY_HTTP_CLIENT": "aiohttp"})._transport_factory is AiohttpTransport
    assert tollway.Client(environ={})._transport_factory is H1Transport
