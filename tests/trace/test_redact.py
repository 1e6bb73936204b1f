"""Redaction: secrets never reach a report; what helps debugging stays."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from reusecheck.trace.redact import (
    REDACTED,
    SENSITIVE_HEADERS,
    is_sensitive_header,
    redact_headers,
    redact_url,
)


def test_authorization_keeps_its_scheme() -> None:
    pairs = [
        ("Authorization", "Bearer eyJhbGciOi.secret.sig"),
        ("proxy-authorization", "Basic dXNlcjpwYXNz"),
        ("Authorization", "opaque-token-without-scheme"),
    ]
    assert redact_headers(pairs) == [
        ["Authorization", f"Bearer {REDACTED}"],
        ["proxy-authorization", f"Basic {REDACTED}"],
        ["Authorization", REDACTED],
    ]


def test_cookies_keep_names_and_attributes() -> None:
    out = redact_headers(
        [
            ["Cookie", "session=abc123; theme=dark"],
            ["Set-Cookie", "sid=xyz; Path=/; Max-Age=3600; HttpOnly"],
        ]
    )
    assert out == [
        ["Cookie", f"session={REDACTED}; theme={REDACTED}"],
        ["Set-Cookie", f"sid={REDACTED}; Path=/; Max-Age=3600; HttpOnly"],
    ]


def test_named_and_pattern_headers() -> None:
    for name in SENSITIVE_HEADERS:
        assert is_sensitive_header(name.upper())
    for name in ("X-Vault-Token", "X-Client-Secret", "DB-Password", "X-Service-Api-Key"):
        assert is_sensitive_header(name)
    for name in ("Connection", "Keep-Alive", "Server", "WWW-Authenticate", "Content-Length"):
        assert not is_sensitive_header(name)
    assert redact_headers([["X-Api-Key", "k"], ["Server", "nginx"]]) == [
        ["X-Api-Key", REDACTED],
        ["Server", "nginx"],
    ]


def test_reveal_keeps_everything() -> None:
    pairs = [("Authorization", "Bearer t"), ("Cookie", "a=b")]
    assert redact_headers(pairs, reveal=True) == [["Authorization", "Bearer t"], ["Cookie", "a=b"]]


def test_url_password_and_query_secrets() -> None:
    url = "https://alice:hunter2@api.example.test:8443/v1/items?page=2&access_token=abc&key=k1#top"
    assert redact_url(url) == (
        f"https://alice:{REDACTED}@api.example.test:8443/v1/items"
        f"?page=2&access_token={REDACTED}&key={REDACTED}#top"
    )
    assert redact_url(url, reveal=True) == url


def test_url_without_secrets_is_unchanged_byte_for_byte() -> None:
    for url in (
        "http://127.0.0.1:8080/",
        "https://example.test/a%20b?q=x%2Fy&flag",
        "https://user@example.test/",  # a user name alone is no secret
        "http://[::1]:8080/path?x=1",
    ):
        assert redact_url(url) == url


def test_signed_url_parameters() -> None:
    url = "https://b.example.test/o?X-Amz-Credential=AK&X-Amz-Signature=ff&X-Amz-Expires=60"
    out = redact_url(url)
    assert "AK" not in out and "=ff" not in out
    assert "X-Amz-Expires=60" in out


# Upper case and digits: the URL around the password is lower case, so a hit is a leak.
@given(password=st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=4, max_size=20))
def test_password_never_survives(password: str) -> None:
    url = f"https://bob:{password}@h.example.test/p?token={password}&client_secret={password}"
    assert password not in redact_url(url)
    pairs = [["Authorization", f"Basic {password}"], ["X-Auth-Token", password]]
    assert all(password not in v for _, v in redact_headers(pairs))


def test_an_h2_path_pseudo_header_hides_query_secrets_like_a_url() -> None:
    from reusecheck.trace.redact import redact_header

    shown = redact_header(":path", "/api?token=s3cret&page=2")
    assert shown == f"/api?token={REDACTED}&page=2"
    assert redact_header(":path", "/plain") == "/plain"
