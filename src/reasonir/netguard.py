"""Access checks shared by the HTTP servers (``reasonir serve``, ``reasonir llm-serve``).

Standard library only, so any server (FastAPI or :mod:`http.server`) can use it:

* :func:`normalize_api_key` refuses an empty key (``--api-key "$UNSET"``) instead of quietly
  running without authentication;
* :func:`key_from_headers` / :func:`key_matches` read ``Authorization: Bearer KEY`` (or
  ``X-API-Key: KEY``) and compare in constant time;
* :class:`AllowedHosts` checks the ``Host`` header of a server that runs without a key, so a web
  page on another site cannot reach a localhost server through DNS rebinding;
* :func:`echo` caps what an error message repeats back from a request.
"""

from __future__ import annotations

import hmac
import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .errors import ConfigError

#: names that always mean this machine (``*.localhost`` too, RFC 6761)
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_WILDCARD_BINDS = ("0.0.0.0", "::", "")


def normalize_api_key(key: str | None, source: str = "--api-key") -> str | None:
    """The API key to require, or ``None`` for none; an empty or unsendable key is refused.

    Args:
        key: the configured key (``None``: no key).
        source: where it came from, for the message (``--api-key``, ``$REASONIR_API_KEY``).

    Raises:
        ConfigError: when the key is empty or whitespace (e.g. an unset shell variable), or holds
            characters an HTTP header cannot carry.
    """
    if key is None:
        return None
    if not isinstance(key, str):
        raise ConfigError(f"{source} must be a string, got {type(key).__name__}")
    key = key.strip()
    if not key:
        raise ConfigError(f"{source} is empty (an unset variable?): give a non-empty key, or leave it out "
                          "to run without one")
    if not all(" " <= c <= "~" for c in key):
        raise ConfigError(f"{source} must be printable ASCII: it travels in an HTTP header")
    return key


def key_from_headers(get: Callable[[str], str | None]) -> str:
    """The key a request presents: ``Authorization: Bearer KEY``, else ``X-API-Key: KEY``, else ``''``.

    Args:
        get: header lookup by lower-case name (e.g. ``request.headers.get``).
    """
    auth = (get("authorization") or "").strip()
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return (get("x-api-key") or "").strip()


def key_matches(given: str, key: str) -> bool:
    """Constant-time comparison of a presented key with the configured one (empty never matches)."""
    return bool(given) and hmac.compare_digest(given.encode("utf-8", "replace"), key.encode("utf-8"))


def _host_name(header: str) -> str:
    """The host of a ``Host`` header value, lower-case, without port, brackets or trailing dot."""
    host = header.strip().lower()
    if host.startswith("["):                        # [::1]:8000
        host = host[1:host.find("]")] if "]" in host else host[1:]
    elif host.count(":") == 1:                      # name:port (a bare IPv6 address has several colons)
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class AllowedHosts:
    """The ``Host`` header values a server answers to.

    Attributes:
        names: accepted host names and addresses (lower-case, no port).
        any_ip: accept any IP address literal (a server bound to all interfaces; an address cannot
            be rebound to another site, so only names need listing).
        any_host: ``*`` was given: no check at all.
    """

    names: frozenset[str] = field(default_factory=lambda: frozenset(LOOPBACK_NAMES))
    any_ip: bool = False
    any_host: bool = False

    @classmethod
    def for_server(cls, bind_host: str = "127.0.0.1", extra: Iterable[str] = ()) -> AllowedHosts:
        """Loopback names, the address the server binds to, and ``extra`` (``*`` accepts any host).

        A server bound to all interfaces (``0.0.0.0``/``::``) also answers to this machine's host
        names and to any IP address.

        Raises:
            ConfigError: when an extra host is empty or holds a scheme, path or spaces.
        """
        names = set(LOOPBACK_NAMES)
        any_host = False
        for raw in [extra] if isinstance(extra, str) else extra:
            if not isinstance(raw, str):
                raise ConfigError(f"allowed host {raw!r} is not a host name (a string)")
            host = raw.strip()
            if host == "*":
                any_host = True
                continue
            if not host or any(c in host for c in "/ \t@?#"):
                raise ConfigError(f"allowed host {raw!r} is not a host name: give names like "
                                  "'search.example.org' or '192.168.1.5' (no scheme or path), or '*' for any")
            names.add(_host_name(host))
        bind = _host_name(bind_host)
        wildcard = bind in _WILDCARD_BINDS
        if wildcard:
            for name in (socket.gethostname(), socket.getfqdn()):
                if name:
                    names.add(name.lower().rstrip("."))
        else:
            names.add(bind)
        return cls(frozenset(names), any_ip=wildcard, any_host=any_host)

    def allows(self, header: str | None) -> bool:
        """True when a request with this ``Host`` header may be answered (no header: allowed)."""
        if self.any_host or header is None:
            return True
        host = _host_name(header)
        if host in self.names or host.endswith(".localhost"):
            return True
        return self.any_ip and _is_ip(host)

    def describe(self) -> str:
        """The accepted hosts, for error messages."""
        listed = ", ".join(sorted(self.names))
        return listed + (", any IP address" if self.any_ip else "")

    def refusal(self, header: str) -> str:
        """The message for a refused ``Host`` header."""
        return (f"Host header {echo(header)} is not allowed: this server answers to {self.describe()} "
                f"(a defence against DNS rebinding); to accept that name, add it to the allowed hosts "
                f"(--allowed-hosts {echo(_host_name(header), quote=False)}) or require an API key")


def echo(value: object, max_chars: int = 80, quote: bool = True) -> str:
    """``repr`` of ``value`` (or ``str`` when ``quote`` is false), cut to about ``max_chars`` characters."""
    text = repr(value) if quote else str(value)
    if len(text) <= max_chars:
        return text
    return f"{text[:max_chars]}… ({len(text)} characters)"


def echo_many(values: Iterable[object], max_count: int = 5, max_chars: int = 80) -> str:
    """A comma-separated list of at most ``max_count`` capped :func:`echo` values, with the rest counted."""
    values = list(values)
    shown = ", ".join(echo(v, max_chars) for v in values[:max_count])
    rest = len(values) - max_count
    return shown + (f" and {rest} more" if rest > 0 else "")
