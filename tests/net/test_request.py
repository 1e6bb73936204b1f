"""What a request sends, decided before any connection: the host as IDNA A-labels, the
target percent-encoded, credentials from the URL, and input no server should see
refused with one line."""

from __future__ import annotations

import base64

import pytest

from reusecheck.net.h2wire import sent_pairs
from reusecheck.net.request import (
    Request,
    URLError,
    check_headers,
    check_method,
    parse_header,
    parse_url,
)


def test_international_hosts_go_out_as_a_labels() -> None:
    key, target, host = parse_url("http://bücher.example/")
    assert (key.host, host, target) == ("xn--bcher-kva.example", "xn--bcher-kva.example", "/")
    key, _, host = parse_url("https://пример.испытание:8443/")
    assert key.host == "xn--e1afmkfd.xn--80akhbyknj4f"
    assert host == "xn--e1afmkfd.xn--80akhbyknj4f:8443"
    req = Request("GET", "http://Bücher.Example/")
    assert ["Host", "xn--bcher-kva.example"] in req.header_pairs
    assert str(req.key) == "http://xn--bcher-kva.example:80"


@pytest.mark.parametrize("url", ["http://a..b/", f"http://{'a' * 64}.example/"])
def test_a_host_idna_cannot_encode_is_a_url_error(url: str) -> None:
    with pytest.raises(URLError, match="is not a valid domain name"):
        parse_url(url)


def test_paths_and_queries_are_percent_encoded_and_escapes_kept() -> None:
    _, target, _ = parse_url("http://h/päth/%41?q=ü&x=%20")
    assert target == "/p%C3%A4th/%41?q=%C3%BC&x=%20"


@pytest.mark.parametrize("url", ["http://h/a b", "http://h/\x00", "http://h/a\tb"])
def test_spaces_and_control_characters_are_refused(url: str) -> None:
    with pytest.raises(URLError, match="space or a control character"):
        parse_url(url)


def test_url_errors_never_show_the_password_or_a_token() -> None:
    with pytest.raises(URLError) as info:
        parse_url("ftp://user:hunter2@h/?token=abc")
    assert "hunter2" not in str(info.value) and "abc" not in str(info.value)
    with pytest.raises(URLError) as info:
        parse_url("https://user:hunter2@h/a b?token=abc")
    assert "hunter2" not in str(info.value) and "abc" not in str(info.value)


def test_userinfo_is_sent_as_basic_authorization_unless_one_is_given() -> None:
    req = Request("GET", "https://al%40ice:p%3Ass@h/")
    (auth,) = [v for n, v in req.header_pairs if n == "Authorization"]
    assert auth == "Basic " + base64.b64encode(b"al@ice:p:ss").decode()
    assert ["Host", "h"] in req.header_pairs  # userinfo is never part of Host
    own = Request("GET", "https://u:p@h/", [("Authorization", "Bearer t")])
    assert [v for n, v in own.header_pairs if n == "Authorization"] == ["Bearer t"]


def test_header_values_outside_latin1_and_bad_names_are_refused() -> None:
    assert parse_header("X-Name: Zoë") == ("X-Name", "Zoë")  # Latin-1 is fine
    with pytest.raises(ValueError, match="outside Latin-1"):
        parse_header("X-Name: Zoë ☃")
    with pytest.raises(ValueError, match="not a valid HTTP token"):
        parse_header("X Name: 1")


def test_a_method_is_a_token_and_host_is_given_once() -> None:
    assert check_method("get") == "GET"
    with pytest.raises(ValueError, match="not an HTTP method"):
        check_method("GE T")
    with pytest.raises(ValueError, match="2 Host headers"):
        check_headers([("Host", "a"), ("host", "b")])


def test_a_host_header_is_the_h2_authority_and_only_sent_headers_are_traced() -> None:
    req = Request("GET", "https://10.0.0.1/", [("Host", "api.example"), ("Connection", "x")])
    pairs = sent_pairs(req, "https")
    assert [":authority", "api.example"] in pairs
    names = [n for n, _ in pairs]
    assert "host" not in names and "connection" not in names  # not sent on HTTP/2
    assert ["Host", "api.example"] in req.header_pairs  # HTTP/1.1 sends it as is
