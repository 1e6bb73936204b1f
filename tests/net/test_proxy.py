"""Which proxy a request goes through, as Go's ``ProxyFromEnvironment`` decides it.

The rules are easy to get subtly wrong and a wrong one is silent: a request that should
have gone through the corporate proxy goes direct (or the reverse) and the report
measures another path.  Each case here is one of Go's (``x/net/http/httpproxy``) or
curl's rules, named in its test; and a proxy's password must never reach a message.
"""

from __future__ import annotations

import base64

import pytest

from reusecheck.commands.exits import BadInput
from reusecheck.commands.routing import check_h2c, proxies_of, routing_of
from reusecheck.net.proxy import (
    Proxy,
    ProxyConfig,
    explicit_proxy,
    from_environment,
    is_loopback,
    parse_proxy,
)
from reusecheck.net.request import Request
from reusecheck.net.route import Routing
from reusecheck.pool.routes import Routes

SECRET = "hunter2-XYZ"


def via(env: dict[str, str], url: str, no_proxy: str | None = None) -> Proxy | None:
    """The proxy a request to ``url`` takes under ``env`` (and ``--noproxy``)."""
    key = Request("GET", url).key
    return from_environment(env, no_proxy).for_target(key.scheme, key.host, key.port)


def origin(p: Proxy | None) -> str | None:
    return None if p is None else p.origin


# -- the environment ---------------------------------------------------------------------


def test_each_scheme_reads_its_own_variable() -> None:
    """HTTPS_PROXY for https://, HTTP_PROXY for http://; one does not stand in for the
    other (Go: an https:// request with only HTTP_PROXY set goes direct)."""
    env = {"HTTP_PROXY": "http://plain:3128", "HTTPS_PROXY": "http://secure:3129"}
    assert origin(via(env, "http://example.com/")) == "http://plain:3128"
    assert origin(via(env, "https://example.com/")) == "http://secure:3129"
    assert via({"HTTP_PROXY": "plain:3128"}, "https://example.com/") is None
    assert via({"HTTPS_PROXY": "secure:3129"}, "http://example.com/") is None
    assert via({}, "https://example.com/") is None


def test_upper_case_wins_and_lower_case_is_read_when_it_is_unset_or_empty() -> None:
    """Go's getEnvAny: the upper-case variable first, an empty value counts as unset."""
    both = {"HTTPS_PROXY": "http://upper:1", "https_proxy": "http://lower:2"}
    assert origin(via(both, "https://example.com/")) == "http://upper:1"
    lower = {"HTTPS_PROXY": "", "https_proxy": "http://lower:2", "http_proxy": "lower:3"}
    assert origin(via(lower, "https://example.com/")) == "http://lower:2"
    assert origin(via(lower, "http://example.com/")) == "http://lower:3"
    assert (
        via({"NO_PROXY": "", "no_proxy": "example.com", "http_proxy": "p:1"}, "http://example.com/")
        is None
    )


def test_all_proxy_is_the_fallback_for_both_schemes() -> None:
    """curl's ALL_PROXY (either case) when a scheme's own variable is unset; the
    scheme's own variable wins over it."""
    env = {"all_proxy": "http://every:8080", "HTTPS_PROXY": "http://secure:3129"}
    assert origin(via(env, "http://example.com/")) == "http://every:8080"
    assert origin(via(env, "https://example.com/")) == "http://secure:3129"
    cfg = from_environment({"ALL_PROXY": "every:8080"})
    assert cfg.http is not None and cfg.http.source == "ALL_PROXY"


def test_a_bare_host_is_http_on_its_scheme_port() -> None:
    """Go's parseProxy prepends http://; canonicalAddr gives 80 or 443 (not curl's 1080)."""
    assert parse_proxy("squid.corp").origin == "http://squid.corp:80"
    assert parse_proxy("https://squid.corp").origin == "https://squid.corp:443"
    assert parse_proxy("HTTP://Squid.Corp:3128/").origin == "http://squid.corp:3128"
    assert parse_proxy("[2001:db8::5]:3128").origin == "http://[2001:db8::5]:3128"


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("socks5://gw:1080", "socks5:// proxies are not supported"),
        ("http://gw:3128/path", "no path or query"),
        ("http://:3128", "has no host"),
        ("http://gw:99999", "is not a URL"),
        ("http://gw :3128", "space or a control character"),
    ],
)
def test_a_bad_variable_is_named_not_ignored(value: str, said: str) -> None:
    """Go ignores a value it cannot use and goes direct; a diagnostic must say so."""
    with pytest.raises(ValueError, match="HTTPS_PROXY") as info:
        from_environment({"HTTPS_PROXY": value})
    assert said in str(info.value)


def test_http_proxy_is_refused_under_cgi() -> None:
    """httpoxy (golang.org/s/cgihttpproxy): with REQUEST_METHOD set, a client's 'Proxy:'
    header may have become HTTP_PROXY; HTTPS_PROXY is not affected."""
    with pytest.raises(ValueError, match="CGI"):
        from_environment({"REQUEST_METHOD": "GET", "HTTP_PROXY": "evil:1"})
    cfg = from_environment({"REQUEST_METHOD": "GET", "HTTPS_PROXY": "good:1"})
    assert cfg.https is not None and cfg.http is None


# -- NO_PROXY ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entries", "url", "direct"),
    [
        # a name matches itself and its subdomains, never a longer name
        ("example.com", "http://example.com/", True),
        ("example.com", "http://www.example.com/", True),
        ("example.com", "http://notexample.com/", False),
        ("example.com", "http://example.com.evil.test/", False),
        # .name and *.name: subdomains only
        (".example.com", "http://example.com/", False),
        (".example.com", "http://a.b.example.com/", True),
        ("*.example.com", "http://example.com/", False),
        ("*.example.com", "http://www.example.com/", True),
        # a port narrows an entry; the URL's default port counts
        ("example.com:8080", "http://example.com:8080/", True),
        ("example.com:8080", "http://example.com/", False),
        ("example.com:443", "https://example.com/", True),
        ("example.com:443", "http://example.com/", False),
        # IP addresses, with or without a port; IPv6 in brackets
        ("10.1.2.3", "http://10.1.2.3:9000/", True),
        ("10.1.2.3:80", "http://10.1.2.3/", True),
        ("10.1.2.3:80", "http://10.1.2.3:81/", False),
        ("[2001:db8::1]:443", "https://[2001:db8::1]/", True),
        ("2001:db8::1", "https://[2001:db8::1]:8443/", True),
        # CIDR: addresses inside, any port; never a name (no DNS is asked)
        ("10.0.0.0/8", "http://10.200.0.1:8080/", True),
        ("10.0.0.0/8", "http://11.0.0.1/", False),
        ("2001:db8::/32", "https://[2001:db8:1::2]/", True),
        ("10.0.0.0/8", "http://ten.example/", False),
        # '*' alone: everything direct; case and spaces do not matter
        ("*", "https://anything.example/", True),
        (" Example.COM , other.test", "http://WWW.example.com/", True),
        # IDNA: an entry in Unicode matches the A-label the request is sent with
        ("bücher.example", "http://www.bücher.example/", True),
        (".bücher.example", "http://xn--bcher-kva.example/", False),
        # malformed entries are skipped, the others still apply
        ("example.com:port, :80, 10.0.0.0/99, other.test", "http://other.test/", True),
        ("example.com:port", "http://example.com/", False),
    ],
)
def test_no_proxy_rules_are_gos(entries: str, url: str, direct: bool) -> None:
    env = {"HTTP_PROXY": "http://proxy:3128", "HTTPS_PROXY": "http://proxy:3128"}
    assert (via({**env, "NO_PROXY": entries}, url) is None) is direct


def test_noproxy_replaces_the_variable() -> None:
    """curl's --noproxy replaces NO_PROXY (not adds to it); an empty one clears it."""
    env = {"HTTP_PROXY": "p:3128", "NO_PROXY": "a.test"}
    assert via(env, "http://a.test/", no_proxy="b.test") is not None
    assert via(env, "http://b.test/", no_proxy="b.test") is None
    assert via(env, "http://a.test/", no_proxy="") is not None
    assert via(env, "http://a.test/") is None


# -- loopback ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8080/",
        "http://LOCALHOST/",
        "http://127.0.0.1/",
        "http://127.4.5.6:81/",
        "https://[::1]/",
        "https://[::ffff:127.0.0.1]/",
    ],
)
def test_loopback_never_takes_a_proxy_from_the_environment(url: str) -> None:
    """Go's useProxy: localhost and loopback addresses go direct whatever the variables
    say (an IPv4-mapped loopback is loopback to Go's net.IP too)."""
    env = {"HTTP_PROXY": "p:3128", "HTTPS_PROXY": "p:3128", "ALL_PROXY": "p:3128"}
    assert via(env, url) is None


def test_a_name_that_only_looks_local_is_proxied() -> None:
    """Go compares the host with "localhost" exactly: a subdomain or another name that
    resolves to loopback is the resolver's business, and goes to the proxy."""
    env = {"HTTP_PROXY": "p:3128"}
    assert via(env, "http://localhost.example/") is not None
    assert via(env, "http://app.localhost/") is not None
    assert not is_loopback("::2") and is_loopback("[::1]")


def test_an_explicit_proxy_takes_loopback_too_unless_noproxy_names_it() -> None:
    """--proxy (curl's -x, Go's http.ProxyURL) is used for every target, loopback
    included; NO_PROXY still applies to it, --noproxy replacing it."""
    cfg = explicit_proxy("http://p:3128", None, {})
    assert cfg.for_target("http", "127.0.0.1", 80) is not None
    assert cfg.for_target("https", "localhost", 443) is not None
    assert explicit_proxy("p:3128", "localhost", {}).for_target("https", "localhost", 443) is None
    env = {"NO_PROXY": "127.0.0.0/8"}
    assert explicit_proxy("p:3128", None, env).for_target("http", "127.0.0.1", 80) is None
    assert explicit_proxy("p:3128", "", env).for_target("http", "127.0.0.1", 80) is not None


def test_an_empty_proxy_option_turns_the_environment_off() -> None:
    """--proxy '' is "no proxy", even with the variables set."""
    env = {"HTTPS_PROXY": "p:3128", "HTTP_PROXY": "p:3128"}
    cfg = proxies_of({"proxy": ""}, env)
    assert not cfg.any and cfg.explicit
    assert proxies_of({"proxy": None}, env).https is not None
    assert proxies_of({"proxy": "http://other:1"}, env).https == parse_proxy("other:1")


# -- credentials -------------------------------------------------------------------------


def test_userinfo_becomes_basic_proxy_authorization_percent_decoded() -> None:
    """Go: 'Basic ' + base64(Username() + ':' + Password()), both percent-decoded; a
    user without a password is sent with an empty one."""
    p = parse_proxy(f"http://d%40ve:{SECRET}%2F%40@proxy:3128")
    assert p.authorization() == "Basic " + base64.b64encode(f"d@ve:{SECRET}/@".encode()).decode(
        "ascii"
    )
    assert parse_proxy("http://eve@proxy:3128").authorization() == "Basic " + base64.b64encode(
        b"eve:"
    ).decode("ascii")
    assert parse_proxy("http://proxy:3128").authorization() is None


def test_the_password_is_redacted_in_everything_that_is_shown() -> None:
    p = parse_proxy(f"http://dave:{SECRET}@proxy:3128", "HTTPS_PROXY")
    assert p.shown == "http://dave:[redacted]@proxy:3128"
    assert parse_proxy("http://eve@proxy:3128").shown == "http://eve@proxy:3128"
    routing = Routing(proxies=from_environment({"HTTPS_PROXY": f"dave:{SECRET}@proxy:3128"}))
    key, text = Routes(routing).key(Request("GET", "https://example.com/"))
    for shown in (repr(p), str(p.origin), repr(key), text, repr(routing.to_record())):
        assert SECRET not in shown
    assert routing.to_record()["proxy"]["https"] == "http://dave:[redacted]@proxy:3128"


@pytest.mark.parametrize(
    "value",
    [
        f"http://dave:{SECRET}@proxy:3128/path",
        f"http://dave:{SECRET} @proxy:3128",
        f"ftp://dave:{SECRET}@proxy:3128",
        f"http://dave:{SECRET}@proxy:99999",
        f"http://dave:{SECRET}@[::1:3128",
        # a '/' or '#' in the password ends the URL's authority early: urlsplit's
        # complaint then quotes what came before it
        f"http://dave:{SECRET[:4]}/{SECRET[4:]}@proxy:3128",
        f"http://dave:{SECRET[:4]}#{SECRET[4:]}@proxy:3128",
        f"dave:{SECRET[:4]}?{SECRET[4:]}@proxy:3128",
    ],
)
def test_no_error_quotes_any_part_of_the_password(value: str) -> None:
    """A bad proxy URL is one line for the user, who pastes it into a ticket."""
    for env in ({"HTTPS_PROXY": value}, {"ALL_PROXY": value}):
        with pytest.raises(BadInput) as info:
            proxies_of({"proxy": None}, env)
        assert SECRET[:4] not in str(info.value) and SECRET[4:] not in str(info.value)
    with pytest.raises(BadInput) as info:
        routing_of({"proxy": value}, {})
    assert SECRET[:4] not in str(info.value) and SECRET[4:] not in str(info.value)


# -- pool keys ---------------------------------------------------------------------------


def test_pool_keys_are_gos_connect_method_keys() -> None:
    """http:// origins through one proxy share its connections (the key is the proxy);
    each https:// origin is its own tunnel; an origin NO_PROXY names keeps its own key."""
    cfg = from_environment(
        {"HTTP_PROXY": "p:3128", "HTTPS_PROXY": "p:3128", "NO_PROXY": "direct.test"}
    )
    routes = Routes(Routing(proxies=cfg))

    def key(url: str) -> str:
        return routes.key(Request("GET", url))[1]

    assert key("http://a.test/") == key("http://b.test:8080/x") == "http://* via http://p:3128"
    assert key("https://a.test/") == "https://a.test:443 via http://p:3128"
    assert key("https://a.test/") != key("https://b.test/")
    assert key("http://direct.test/") == "http://direct.test:80"
    assert key("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    assert Routes(Routing()).key(Request("GET", "http://a.test/"))[1] == "http://a.test:80"


def test_h2c_through_a_proxy_is_refused_before_anything_is_sent() -> None:
    """Go never sends h2c through a proxy: an http:// request there is HTTP/1.1 to it."""
    routing = Routing(proxies=explicit_proxy(f"http://u:{SECRET}@p:3128", None, {}))
    with pytest.raises(BadInput) as info:
        check_h2c("http://a.test/", "h2c", routing)
    assert "--noproxy a.test" in str(info.value) and SECRET not in str(info.value)
    check_h2c("http://a.test/", "auto", routing)
    check_h2c("http://a.test/", "h2c", Routing(proxies=ProxyConfig()))
