"""One signed POST to one endpoint, guarded against reaching inside the network.

The host name is resolved at send time and the address checked then; the
connection goes to exactly that address (the name is still used for the Host
header and for TLS), so a name that resolves to a public address when checked
and to a private one a moment later (DNS rebinding) cannot redirect the POST.
Redirects are never followed: a 3xx answer counts as a failure. Every socket
operation has a time limit, and a whole try WHOLE_TRY_TIMEOUTS of them.
"""

import http.client
import ipaddress
import socket
import ssl
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from standardwebhooks import Webhook

from karn.formatting import stored_text

USER_AGENT = "Karn-Webhooks/1"
# The time limit holds per connect, write and read; a whole try is cut off
# after this many of them, so a receiver that trickles its answer a byte at a
# time cannot hold the worker up for longer.
WHOLE_TRY_TIMEOUTS = 3
# What is read of an answer: enough for its status line and headers.
ANSWER_BYTES = 4096


# What an attempt came to, stored with it and shown in the reader's language.
NOT_HTTP = stored_text(
    "Only http and https URLs with a host name can receive webhooks."
)
HAS_LOGIN = stored_text("The URL may not contain a user name or password.")
BAD_PORT = stored_text("The URL's port is not a number.")
UNRESOLVED = stored_text("The host name %(host)s could not be resolved: %(detail)s")
NEVER_ALLOWED = stored_text(
    "%(host)s resolves to %(address)s, a link-local, metadata or multicast "
    "address, which no webhook may be sent to."
)
PRIVATE = stored_text(
    "%(host)s resolves to %(address)s, a private or loopback address; allow "
    "private addresses for this endpoint to send there."
)
TOO_SLOW = stored_text("No whole answer within %(seconds)s seconds.")
NO_CONNECTION = stored_text("%(host)s refused the connection.")
CLOSED = stored_text("%(host)s closed the connection without a whole answer.")
CERTIFICATE = stored_text(
    "The certificate of %(host)s could not be verified: %(detail)s"
)
REDIRECT = stored_text("Redirect to %(location)s not followed.")
HTTP_STATUS = stored_text("The endpoint answered HTTP %(status)s.")


class Refused(Exception):
    """The URL may not be posted to (a private address, a bad scheme)."""


@dataclass
class Outcome:
    """What one attempt came to: an HTTP status, or an error without one."""

    status: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


# IPv6 ranges whose last 32 bits are an IPv4 address the packet may end up
# at: NAT64's well-known prefix, the old IPv4-compatible addresses and SIIT's
# IPv4-translated ones (IPv4-mapped and 6to4 have their own properties).
_EMBEDDING = tuple(
    ipaddress.ip_network(n) for n in ("64:ff9b::/96", "::/96", "::ffff:0:0:0/96")
)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip.sixtofour:
        return ip.sixtofour
    if any(ip in network for network in _EMBEDDING):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _unwrapped(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The address, or the IPv4 address an IPv6 one carries inside it (a
    translator or tunnel on the way would deliver it there)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and not ip.is_site_local:
        inner = _embedded_ipv4(ip)
        if inner is not None:
            return inner
    return ip


# Cloud providers' instance metadata services (credentials live there) on
# addresses that are not link-local: AWS's IPv6 one and Alibaba's.
_METADATA = {ipaddress.ip_address(a) for a in ("fd00:ec2::254", "100.100.100.200")}


def is_public(address: str) -> bool:
    """True for an address on the internet; false for private, loopback,
    link-local, site-local, shared, multicast, reserved and unspecified ones,
    and for an IPv6 address that carries such an IPv4 address inside it."""
    ip = _unwrapped(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return False
    return ip.is_global and not ip.is_multicast


def never_allowed(address: str) -> bool:
    """Addresses no endpoint may reach, even one allowed private addresses:
    link-local ones (where cloud servers answer with their credentials, at
    169.254.169.254), the other metadata services, multicast and unspecified
    ones. Private and loopback addresses are what that setting is for."""
    ip = _unwrapped(address)
    return (
        ip.is_link_local
        or ip.is_multicast
        or ip.is_unspecified
        or ip in _METADATA
        or ipaddress.ip_address(address.split("%", 1)[0]) in _METADATA
    )


def check_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL Karn may post to, or Refused."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused(NOT_HTTP())
    if parts.username or parts.password:
        raise Refused(HAS_LOGIN())
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise Refused(BAD_PORT()) from None
    return parts.scheme, parts.hostname, port


def resolve(host: str, port: int, allow_private: bool) -> str:
    """The address to connect to: the first the name resolves to that may be
    reached, or Refused."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Refused(UNRESOLVED(host=host[:253], detail=str(exc)[:200])) from None
    addresses = [info[4][0] for info in infos]
    for address in addresses:
        if is_public(address) or (allow_private and not never_allowed(address)):
            return address
    if allow_private:
        raise Refused(NEVER_ALLOWED(host=host, address=addresses[0]))
    raise Refused(PRIVATE(host=host, address=addresses[0]))


class _PinnedHTTP(http.client.HTTPConnection):
    """An HTTP connection to a given address, whatever the name resolves to now."""

    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self):
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """As _PinnedHTTP, over TLS with the certificate checked for the name."""

    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self):
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def _cut_off(connection: http.client.HTTPConnection, cut: threading.Event) -> None:
    """End a try that took too long: shutting the socket down wakes the
    read or write it is waiting in."""
    cut.set()
    sock = connection.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def signed_headers(secret: str, message_id: str, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers, signed now: receivers check the
    timestamp against their own clock, so it is the real time."""
    now = datetime.now(UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, now, body),
    }


def post(
    url: str,
    secret: str,
    message_id: str,
    body: bytes,
    *,
    allow_private: bool,
    timeout: float,
) -> Outcome:
    """POST the body once; never raises for what the network or receiver does."""
    try:
        scheme, host, port = check_url(url)
        address = resolve(host, port, allow_private)
    except Refused as exc:
        return Outcome(error=str(exc)[:500])
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection_class = _PinnedHTTPS if scheme == "https" else _PinnedHTTP
    connection = connection_class(host, port, address, timeout)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **signed_headers(secret, message_id, body),
    }
    limit = timeout * WHOLE_TRY_TIMEOUTS
    cut = threading.Event()
    timer = threading.Timer(limit, _cut_off, args=(connection, cut))
    timer.daemon = True
    timer.start()
    try:
        connection.request("POST", path, body=body, headers=headers)
        answer = connection.getresponse()
        answer.read(ANSWER_BYTES)
        status = answer.status
        location = answer.getheader("Location")
    except (OSError, http.client.HTTPException) as exc:
        if cut.is_set():
            return Outcome(error=TOO_SLOW(seconds=f"{limit:g}"))
        return Outcome(error=_failed(host, exc, timeout)[:500])
    finally:
        timer.cancel()
        connection.close()
    if cut.is_set():
        # Cut off in the middle: what was read may look whole, but is not.
        return Outcome(error=TOO_SLOW(seconds=f"{limit:g}"))
    if 300 <= status < 400:
        return Outcome(status, REDIRECT(location=(location or "?")[:400]))
    if not 200 <= status < 300:
        return Outcome(status, HTTP_STATUS(status=status))
    return Outcome(status)


def _failed(host: str, exc: Exception, timeout: float) -> str:
    """A failed try in words: the common network faults by name, any other
    as the error it was."""
    if isinstance(exc, ConnectionRefusedError):
        return NO_CONNECTION(host=host)
    if isinstance(exc, TimeoutError):
        return TOO_SLOW(seconds=f"{timeout:g}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return CERTIFICATE(host=host, detail=str(exc.verify_message or exc)[:300])
    if isinstance(exc, ConnectionResetError):  # RemoteDisconnected is one
        return CLOSED(host=host)
    return f"{type(exc).__name__}: {exc}"
