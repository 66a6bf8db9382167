"""URLs: a scheme (http, https, ftp) or "www.", a host with a real top-level domain, and the
rest up to a space (trailing punctuation left out). A URL can carry a person's name, e-mail
or customer number in its path or query, so it is reported whole."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from veil.detect.registry import Recognizer

_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}")
_URL = r"(?:(?:https?|ftp)://|www\.)[^\s\x00<>\"'`]*[^\s\x00<>\"'`.,;:!?)\]}]"


def validate_url(value: str) -> bool:
    """A host name with a top-level domain of letters, or an IP address."""
    v = value.strip()
    if v.lower().startswith("www."):
        v = "http://" + v
    try:
        host = urlsplit(v).hostname or ""
    except ValueError:
        return False
    return bool(_HOST.fullmatch(host) or re.fullmatch(r"[\d.]+|[0-9a-f:]+", host))


RECOGNIZERS = [
    Recognizer(
        name="url",
        type="url",
        optional=True,
        pattern=r"(?<![\w@.\-])" + _URL,
        value_pattern=r"(?:(?:https?|ftp)://|www\.)[^\s]+",
        prefilter=r"(?i:https?://|ftp://|www\.)",
        validator=validate_url,
        validator_name="urllib (host and top-level domain)",
        strength="format",
        context=("url", "link", "website", "site", "web", "homepage"),
        score=0.7,
        flags=re.IGNORECASE,
        column_names=r"url|link|website|homepage|web",
    ),
]
