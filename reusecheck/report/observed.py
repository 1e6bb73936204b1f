"""``reusecheck observe``'s report: the JSON document (schema 1, ``"command":
"observe"``) and the terminal view, both read from the observed analysis (and the
upstream leg's analysis, when there is one).  No I/O: the command writes them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from reusecheck.analysis.findings.catalogue import Finding
from reusecheck.analysis.model import Analysis
from reusecheck.analysis.observed import ClientGroup, ObservedAnalysis
from reusecheck.analysis.observed.model import ObservedConnection
from reusecheck.trace.redact import redact_url

SCHEMA: Final = "reusecheck/1"
MAX_CONN_ROWS: Final = 40  # the terminal's connection table; JSON has them all
REUSE_STYLE: Final = {"yes": "green", "partial": "yellow", "no": "red"}


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def finding_json(f: Finding) -> dict[str, Any]:
    return {
        "code": f.code,
        "severity": f.severity,
        "title": f.title,
        "message": f.message,
        "remedy": f.remedy,
        "evidence": dict(f.evidence),
    }


def connection_json(c: ObservedConnection) -> dict[str, Any]:
    return {
        "id": c.id,
        "remote": c.remote,
        "local": c.local,
        "client": {"ip": c.client_ip, "user_agent": c.user_agent},
        "protocol": c.protocol,
        "tls": {"alpn": c.alpn} if c.tls else None,
        "opened_s": _r(c.opened_s),
        "closed_s": _r(c.closed_s),
        "closed_by": c.closed_by,
        "close_kind": c.close_kind,
        "close_reason": c.close_reason,
        "requests": c.requests,
        "peak_streams": c.peak_streams,
        "max_concurrent_streams": c.max_concurrent_streams,
        "idle_gaps_s": list(c.idle_gaps_s),
        "idle_gaps": c.gaps,
        "longest_idle_gap_s": _r(c.longest_gap_s),
        "idle_at_close_s": _r(c.idle_at_close_s),
        "unread_response_bytes": c.unread_response_bytes,
        "closed_while_sending": c.writing_at_close,
        "streams_reset": c.streams_reset,
    }


def client_json(g: ClientGroup) -> dict[str, Any]:
    return {
        "ip": g.ip,
        "user_agent": g.user_agent,
        "requests": g.requests,
        "connections": len(g.connections),
        "conn_ids": list(g.connections),
        "reused": g.reused,
        "reuse_ratio": g.reuse_ratio,
        "peak_concurrency": g.peak_concurrency,
        "minimum_connections": g.minimum_connections,
        "requests_per_connection": g.requests_per_connection,
        "unused_connections": g.unused_connections,
        "max_requests_per_connection": g.max_requests_per_connection,
        "protocols": list(g.protocols),
        "findings": [finding_json(f) for f in g.findings],
    }


def upstream_json(url: str, a: Analysis) -> dict[str, Any]:
    """The upstream leg in brief: the probe report's summary, server facts, findings."""
    s, server = a.summary, a.server
    hint = server.keepalive_hint
    return {
        "url": redact_url(url),
        "protocol": a.protocol,
        "summary": {
            "requests": s.requests,
            "connections_opened": s.connections_opened,
            "reused": s.reused,
            "reuse_ratio": s.reuse_ratio,
            "peak_concurrency": s.peak_concurrency,
            "failed": s.failed,
            "retried": s.retried,
        },
        "server": {
            "keepalive": server.keepalive,
            "idle_timeout_s": server.idle_timeout_s,
            "max_requests_per_conn": server.max_requests_per_conn,
            "keepalive_hint": (
                {"timeout_s": hint.timeout_s, "max": hint.max} if hint is not None else None
            ),
        },
        "findings": [finding_json(f) for f in a.findings],
        "verdict": {"reuse": a.verdict.reuse, "detail": a.verdict.detail},
    }


def report_json(
    analysis: ObservedAnalysis,
    *,
    listen: str,
    options: Mapping[str, Any],
    upstream: tuple[str, Analysis] | None = None,
    stopped_by: str = "",
) -> dict[str, Any]:
    """The JSON report (schema 1's contract fields, and observe's own)."""
    s, v, rec = analysis.summary, analysis.verdict, analysis.record
    return {
        "schema": SCHEMA,
        "command": "observe",
        "listen": listen,
        "mode": "upstream" if upstream is not None else "built-in",
        "stopped_by": stopped_by or None,
        "options": dict(options),
        "server": {
            "idle_timeout_s": rec.server_idle_timeout_s,
            "idle_timeout_source": rec.server_idle_timeout_source,
            "h2_offered": rec.h2_offered,
            "max_concurrent_streams": rec.max_concurrent_streams,
        },
        "summary": {
            "requests": s.requests,
            "connections_opened": s.connections_opened,
            "reused": s.reused,
            "reuse_ratio": s.reuse_ratio,
            "peak_concurrency": s.peak_concurrency,
            "minimum_connections": s.minimum_connections,
            "clients": s.clients,
            "duration_s": s.duration_s,
            "closed_by_client": s.closed_by_client,
            "closed_by_server": s.closed_by_server,
            "reset_by_client": s.reset_by_client,
            "requests_not_kept": rec.requests_dropped,
        },
        "connections": [connection_json(c) for c in rec.connections],
        "findings": [finding_json(f) for f in analysis.findings],
        "clients": [client_json(g) for g in analysis.clients],
        "upstream": upstream_json(*upstream) if upstream is not None else None,
        "verdict": {
            "ok": v.ok,
            "reuse": v.reuse,
            "detail": v.detail,
            "expectations": [
                {"name": e.name, "ok": e.ok, "detail": e.detail} for e in v.expectations
            ],
        },
    }


def verdict_text(analysis: ObservedAnalysis) -> str:
    """The last line, plain: also what --json writes to stderr."""
    v, s = analysis.verdict, analysis.summary
    word = "OK" if v.ok else "FAIL"
    return (
        f"verdict: {word} · client reuse {v.reuse} · {s.reused}/{s.requests} reused · "
        f"{s.connections_opened} connection(s), {s.minimum_connections} needed"
    )


def _clients_table(clients: Sequence[ClientGroup]) -> Table:
    table = Table(title="clients (source address + User-Agent)", title_justify="left")
    for name in ("client", "requests", "conns", "needed", "req/conn", "reuse", "findings"):
        table.add_column(name, justify="left" if name in ("client", "findings") else "right")
    for g in clients:
        table.add_row(
            f"{g.ip} {g.user_agent or '(no User-Agent)'}",
            str(g.requests),
            str(len(g.connections))
            + (f" ({g.unused_connections} unused)" if g.unused_connections else ""),
            str(g.minimum_connections),
            f"{g.requests_per_connection:g}",
            f"{g.reuse_ratio:.0%}",
            ", ".join(f.code for f in g.findings) or "-",
        )
    return table


def _connections_table(conns: Sequence[ObservedConnection]) -> Table:
    shown = conns[:MAX_CONN_ROWS]
    title = "client connections"
    if len(conns) > len(shown):
        title += f" (first {len(shown)} of {len(conns)}; all in --json)"
    table = Table(title=title, title_justify="left")
    for name in ("id", "remote", "proto", "reqs", "opened", "closed", "by", "how", "idle max"):
        table.add_column(name, justify="right" if name in ("id", "reqs") else "left")
    for c in shown:
        how = c.close_reason or "-"
        if c.close_kind is not None:
            how += f" ({c.close_kind.upper()})"
        if c.writing_at_close:
            how += ", mid-response"
        table.add_row(
            str(c.id),
            c.remote,
            c.protocol,
            str(c.requests),
            f"{c.opened_s:.3f}s",
            f"{c.closed_s:.3f}s" if c.closed_s is not None else "open",
            c.closed_by or "-",
            how,
            f"{c.longest_gap_s:.3f}s" if c.gaps else "-",
        )
    return table


def _findings(findings: Sequence[Finding]) -> list[RenderableType]:
    out: list[RenderableType] = []
    style = {"error": "bold red", "warning": "bold yellow", "info": "bold"}
    for f in findings:
        out.append(Text.assemble((f"{f.severity}: {f.code}", style[f.severity]), f"  {f.title}"))
        out.append(Text(f"  {f.message}"))
        out.append(Text(f"  fix: {f.remedy}", style="dim"))
    return out


def terminal_view(
    analysis: ObservedAnalysis, *, listen: str, upstream: tuple[str, Analysis] | None
) -> RenderableType:
    s, v = analysis.summary, analysis.verdict
    parts: list[RenderableType] = [
        Text(f"reusecheck observe · {listen} · {s.duration_s:g} s", style="bold"),
        Text(
            f"{s.requests} requests on {s.connections_opened} connections from "
            f"{s.clients} client(s) · peak {s.peak_concurrency} at once · "
            f"{s.reused} reused ({s.reuse_ratio:.0%}) · closed by client "
            f"{s.closed_by_client} ({s.reset_by_client} RST), by server {s.closed_by_server}"
        ),
    ]
    if analysis.clients:
        parts.append(_clients_table(analysis.clients))
    if analysis.record.connections:
        parts.append(_connections_table(analysis.record.connections))
    if upstream is not None:
        url, up = upstream
        us = up.summary
        parts.append(
            Text(
                f"upstream {redact_url(url)}: {us.requests} requests on "
                f"{us.connections_opened} connections, {us.reused} reused · reuse "
                f"{up.verdict.reuse} · idle timeout "
                + (
                    f"{up.server.idle_timeout_s:g} s"
                    if up.server.idle_timeout_s is not None
                    else "not seen"
                )
            )
        )
    if analysis.findings:
        parts.append(Text("findings about the client", style="bold"))
        parts.extend(_findings(analysis.findings))
    else:
        parts.append(Text("no findings about the client", style="green"))
    for e in v.expectations:
        parts.append(Text(f"expect {e.name}: {'ok' if e.ok else 'FAILED'} · {e.detail}"))
    word = ("OK", "bold green") if v.ok else ("FAIL", "bold red")
    parts.append(
        Text.assemble(
            ("verdict: ", "bold"),
            word,
            " · client reuse ",
            (v.reuse, REUSE_STYLE[v.reuse]),
            f" · {s.reused}/{s.requests} reused · {s.connections_opened} connection(s), "
            f"{s.minimum_connections} needed",
        )
    )
    return Group(*parts)


def render(
    analysis: ObservedAnalysis,
    console: Console,
    *,
    listen: str,
    upstream: tuple[str, Analysis] | None = None,
) -> None:
    console.print(terminal_view(analysis, listen=listen, upstream=upstream))
