"""Secrets in URLs: a query string in the configured ``url`` (an API key) is sent with every
request and shown in no message, whatever the message's shape: step warnings, ``replay``'s
delivery errors (urllib3 names the URL without its scheme) and configuration errors (a URL
without a scheme)."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

from conftest import Backend

from floe_lineage.delivery.emitter import LineageEmitter, redact
from floe_lineage.delivery.spool import Spool
from floe_lineage.tools.cli import main as floe_lineage

SECRET = "S3CRET-in-the-query"


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def http_config(tmp_path: Path, url: str) -> Path:
    config = tmp_path / "openlineage.yml"
    config.write_text(f"transport:\n  type: http\n  url: {url}\n  endpoint: api/v1/lineage\n")
    return config


def emit_three(config: Path, caplog) -> tuple[LineageEmitter, str]:
    log = logging.getLogger(f"floe.test.secrets.{config.parent.name}")
    with (
        caplog.at_level(logging.WARNING, logger=log.name),
        LineageEmitter.configure(None, config_path=config, log=log) as emitter,
    ):
        for n in range(3):
            emitter.emit({"eventType": "OTHER", "n": n})
    return emitter, "\n".join(r.getMessage() for r in caplog.records if r.name == log.name)


def test_redact_hides_query_strings_without_a_scheme():
    urllib3 = (
        "HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded with url:"
        f" /api/v1/lineage?api_key={SECRET}&x=1 (Caused by NewConnectionError(...))"
    )
    shown = redact(urllib3)
    assert SECRET not in shown
    assert "url: /api/v1/lineage?*** (Caused by" in shown
    assert SECRET not in redact(f"passed backend.example.com/api?token={SECRET}")


def test_a_query_string_in_the_url_is_sent_with_every_event(
    tmp_path: Path, backend: Backend, caplog
):
    config = http_config(tmp_path, f"{backend.url}?api_key={SECRET}")
    emitter, _ = emit_three(config, caplog)
    assert emitter.emitted == 3
    assert backend.paths == [f"/api/v1/lineage?api_key={SECRET}"] * 3


def test_a_query_string_is_in_no_step_warning(tmp_path: Path, caplog):
    emitter, warnings = emit_three(
        http_config(tmp_path, f"{closed_port_url()}?api_key={SECRET}"), caplog
    )
    assert emitter.spooled == 3 and "ConnectionError" in warnings
    assert SECRET not in warnings


def test_a_query_string_is_in_no_replay_error(tmp_path: Path, capsys):
    config = http_config(tmp_path, f"{closed_port_url()}?api_key={SECRET}")
    Spool(tmp_path / ".lineage" / "spool.jsonl").add({"eventType": "OTHER", "n": 0})
    assert floe_lineage(["replay", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "delivery failed: ConnectionError" in err
    assert SECRET not in err


def test_a_url_without_a_scheme_is_in_no_configuration_error(tmp_path: Path, capsys, caplog):
    config = http_config(tmp_path, f"backend.example.com/api?api_key={SECRET}")
    assert floe_lineage(["replay", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "error: " in err and SECRET not in err
    emitter, warnings = emit_three(config, caplog)
    assert not emitter.enabled and "cannot create the 'http' transport" in warnings
    assert SECRET not in warnings
