"""The HTTP libraries under the openai SDK do not log every request at INFO (common.process_setup.configure_logging)."""
from __future__ import annotations

import logging

import pytest
from openai import OpenAI

from common import process_setup


@pytest.fixture
def quiet_libraries():
    saved = {name: logging.getLogger(name).level for name in process_setup.NOISY_LOGGERS}
    process_setup.configure_logging("INFO")
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


def test_a_model_call_logs_nothing_of_the_http_layer_at_info(openai_server, quiet_libraries, caplog):
    client = OpenAI(api_key="sk-test-key", base_url=openai_server.base_url, max_retries=0)
    with caplog.at_level(logging.INFO):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "oi"}])
    noisy = [record.name for record in caplog.records if record.name.split(".")[0] in
             {"httpx", "httpx2", "httpcore", "httpcore2", "openai"}]
    assert noisy == []
