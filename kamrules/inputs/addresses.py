"""Host names and HTTP(S) addresses an admin writes in a config, checked where they are written.

A Salesforce `instance_url` of `not a url` was "cannot reach Salesforce (ConnectionError)"
(exit 4, as if the network were down), a host with a label past 63 characters was exit 5 (the
socket layer's UnicodeError, after the write-back for a digest's SMTP host), and HubSpot retried
a `base_url` it could not parse. Now each is a config error at its line (exit 2).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import AfterValidator

_LABELS = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?")


def host_name(value: str) -> str:
    """`value` if it is a host name (letters, digits, dashes and dots; international names as
    IDNA makes them) or an IP address; else ValueError saying what is wrong."""
    try:
        ipaddress.ip_address(value[1:-1] if value.startswith("[") and value.endswith("]") else value)
        return value
    except ValueError:
        pass
    try:
        encoded = value.encode("idna").decode("ascii")
    except UnicodeError:  # IDNA's "label empty or too long"
        raise ValueError("not a host name: a part between dots is empty or longer than 63"
                         " characters") from None
    if not _LABELS.fullmatch(encoded) or len(encoded) > 253:
        raise ValueError("not a host name: letters, digits, dashes and dots, at most 253"
                         " characters")
    return value


def http_url(value: str) -> str:
    """`value` if it is an http:// or https:// URL with a host name or IP address (and a
    port, if any, of 1 to 65535); else ValueError saying what is wrong."""
    # imported here: urllib3 (and http.client, ssl) cost a local run's start ~30 ms otherwise
    from urllib3.exceptions import LocationParseError
    from urllib3.util import parse_url

    try:
        parts = parse_url(value)
    except LocationParseError as exc:  # "Failed to parse: Host 'a b' contains invalid character ' '"
        raise ValueError(f"not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.host:
        raise ValueError("not an http:// or https:// URL with a host")
    if parts.port == 0:
        raise ValueError("port 0 is not a port")
    host_name(parts.host)
    return value


HostName = Annotated[str, AfterValidator(host_name)]
HttpUrl = Annotated[str, AfterValidator(http_url)]
