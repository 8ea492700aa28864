"""Credentials: the shapes their issuers give them, and how strong a generated secret must look.

Messages never quote the value.
"""

from __future__ import annotations

import itertools
import math
import re
import urllib.parse
from dataclasses import dataclass

# Tokens go into HTTP headers: printable ASCII without spaces.
TOKEN = re.compile(r"[\x21-\x7e]{8,512}", re.ASCII)
# A Hetzner Cloud API token is 64 characters: the provider refuses any other length (terraform-provider-hcloud
# hcloud/provider.go:44, "entered token is invalid (must be exactly 64 characters long)"), at the first API call.
HCLOUD_TOKEN = re.compile(r"[A-Za-z0-9]{64}", re.ASCII)
# A Cloudflare API token is 40 characters, or in the scannable format a prefix (cfut_ user, cfat_ account token),
# 40 characters and a checksum (developers.cloudflare.com/fundamentals/api/get-started/token-formats).
# (cfk_ is the Global API Key, which is no Bearer token.)
CLOUDFLARE_TOKEN = re.compile(r"(?!cfk_)(?:cfut_|cfat_)?[A-Za-z0-9_-]{40,120}", re.ASCII)


@dataclass(frozen=True)
class TokenShape:
    """How an issuer shapes its tokens, so a truncated paste fails before the first API call does."""

    pattern: re.Pattern[str]
    what: str


HETZNER = TokenShape(HCLOUD_TOKEN, "64 letters and digits (a Hetzner Cloud API token)")
CLOUDFLARE = TokenShape(CLOUDFLARE_TOKEN, "a Cloudflare API token (40 characters, or cfut_/cfat_ ones)")


def token(value: str, shape: TokenShape | None = None) -> str | None:
    """A credential's shape; the message never quotes it."""
    if not TOKEN.fullmatch(value):
        return "must be 8-512 printable characters without spaces or line breaks"
    if shape is not None and not shape.pattern.fullmatch(value):
        return f"is not {shape.what}; the value is not shown"
    return None


def url_password(url: str) -> str:
    """The password of a `scheme://user:password@host/...` URL, percent-decoded ("" without one)."""
    userinfo = url.partition("://")[2].partition("/")[0].rpartition("@")[0]
    return urllib.parse.unquote(userinfo.partition(":")[2])


# appSecretKey: 128 bits by an estimate of its own characters (length times the Shannon entropy of their
# distribution), after refusing the patterns that estimate overrates: a repeated block and runs of neighbouring
# characters. `openssl rand -base64 48` gives some 350 bits by this estimate; "password" four times, 0.
MIN_SECRET_BITS = 128


def secret_strength(value: str) -> str | None:
    """Whether `value` looks generated; the message never quotes it."""
    n = len(value)
    period = next((p for p in range(1, n // 2 + 1) if (value[:p] * (n // p + 1))[:n] == value), None)
    if period is not None:
        return f"repeats a block of {period} characters; generate one with `openssl rand -base64 48`"
    steps = [ord(b) - ord(a) for a, b in itertools.pairwise(value)]
    if steps and sum(1 for d in steps if abs(d) <= 1) * 2 >= len(steps):
        return "is mostly runs of neighbouring characters (abcd, 1234); generate one with `openssl rand -base64 48`"
    counts = [value.count(c) for c in set(value)]
    bits = -sum(c * math.log2(c / n) for c in counts)
    if bits < MIN_SECRET_BITS:
        return (
            f"holds about {int(bits)} bits by the estimate of its characters, below {MIN_SECRET_BITS}; "
            "generate one with `openssl rand -base64 48`"
        )
    return None
