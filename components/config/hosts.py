"""Hosts and URLs of services outside the cluster: checked by equality (or a suffix on a label boundary), never by
prefix or substring, so a name that merely starts like the right one is refused."""

from __future__ import annotations

import re

from components.config.checks import dns_name

# Mail submission hosts by provider: equality only, never a name that merely starts like one
# (smtp.fastmail.com.attacker.example). Another provider is a reviewed line here.
SMTP_HOSTS = ("smtp.fastmail.com",)


# S3 endpoints by provider domain: an endpoint must be exactly the provider's host for the configured region.
# Checked by equality, never by prefix or substring: "s3.eu-central-003.backblazeb2.com.attacker.example" names
# someone else's server, which would receive the bucket's keys (SigV4 signs with them) and the snapshots.
S3_ENDPOINTS: dict[str, str] = {
    "backblazeb2.com": "s3.{region}.backblazeb2.com",
    "amazonaws.com": "s3.{region}.amazonaws.com",
}


def s3_endpoint_host(value: str, region: str | None, *, providers: tuple[str, ...] = tuple(S3_ENDPOINTS)) -> str | None:
    """The endpoint is the host of one of `providers` for `region`, spelled exactly (None: a refused region,
    only the endpoint's own form is checked)."""
    if "://" in value or "/" in value:
        return f"{value!r} must be a host, not a URL (e.g. s3.eu-central-003.backblazeb2.com)"
    problem = dns_name(value)
    if problem or region is None:
        return problem
    expected = [S3_ENDPOINTS[p].format(region=region) for p in providers]
    if value in expected:
        return None
    return f"{value!r} is not the S3 endpoint of region {region}; expected {' or '.join(expected)}"


# The database URL as both of its readers take it: libpq (psql, the runbook) and pgx (the Go API). They differ
# on userinfo with a raw '@', on host lists and on repeated parameters, so only the forms both read alike pass.
NEON_DOMAIN = "neon.tech"
POSTGRES_SCHEMES = ("postgres", "postgresql")
# Parameters that change where or how the connection goes (host, hostaddr, port, options: server settings,
# service: a pg_service.conf entry, ssl*: other trust roots or a weaker mode) are refused: only these pass.
POSTGRES_PARAMS = ("sslmode", "channel_binding", "connect_timeout", "application_name", "sslrootcert")
# The server must be authenticated by its certificate and name: sslmode=verify-full. With require or verify-ca
# pgx (the Go API) sets InsecureSkipVerify (pgconn config.go), and channel_binding=require does not save it: pgx
# enforces that only inside SCRAM and answers a cleartext or MD5 password request as asked (pgconn.go, through
# v5.10), so a man in the middle with any certificate would read the password. libpq (psql) is stricter, but the
# URL serves both. sslrootcert=system makes libpq (16+) use the system's roots, as pgx does by default.
STRICT_SSLMODES = ("verify-full",)
PARAM_VALUES = {
    "sslmode": ("verify-full", "verify-ca", "require"),
    "channel_binding": ("require",),
    "sslrootcert": ("system",),
}
_PG_TIMEOUT = re.compile(r"[1-9][0-9]{0,3}", re.ASCII)
_PG_USERINFO = re.compile(r"([A-Za-z0-9._~!$&'()*+,;=-]|%[0-9A-Fa-f]{2})+", re.ASCII)
_PG_DBNAME = re.compile(r"[A-Za-z0-9_.-]{1,63}", re.ASCII)
_PG_PARAM = re.compile(r"([a-z_]+)=([A-Za-z0-9_.-]{1,64})", re.ASCII)
_PORT = re.compile(r"[1-9][0-9]{0,4}", re.ASCII)


def neon_pooler_url(value: str) -> str | None:
    """A Neon pooled URL with one host, TLS enforced; the messages never quote the (secret) URL."""
    scheme, sep, rest = value.partition("://")
    if not sep or scheme not in POSTGRES_SCHEMES:
        return "must be a postgres:// or postgresql:// URL"
    if "#" in rest:
        return "has a fragment ('#'); percent-encode a '#' in the password as %23"
    authority, _, path_query = rest.partition("/")
    path, _, query = path_query.partition("?")
    if authority.count("@") != 1:
        return "must hold exactly one '@' between user:password and the host; percent-encode an '@' in the password"
    userinfo, _, hostport = authority.partition("@")
    user, colon, password = userinfo.partition(":")
    if not _PG_USERINFO.fullmatch(user) or not colon or not _PG_USERINFO.fullmatch(password):
        return "must carry user:password (percent-encoded) before the host"
    if "%00" in userinfo:
        return "has a NUL (%00) in user:password, which libpq refuses"
    if "," in hostport:
        return "names more than one host (a host list); give Neon's one pooled host"
    host, colon, port = hostport.partition(":")
    if colon and not (_PORT.fullmatch(port) and int(port) <= 65535):
        return "has a port that is not 1-65535"
    labels = host.split(".")
    if dns_name(host) or not host.endswith("." + NEON_DOMAIN) or not labels[0].endswith("-pooler") or len(labels) < 4:
        return f"must use Neon's pooled host (<endpoint>-pooler.<region>.<cloud>.{NEON_DOMAIN})"
    if not _PG_DBNAME.fullmatch(path):
        return "must name one database after the host (/<database>)"
    return _postgres_params(query)


def _postgres_params(query: str) -> str | None:
    seen: dict[str, str] = {}
    for item in query.split("&") if query else []:
        match = _PG_PARAM.fullmatch(item)
        if not match:
            return "has a query parameter that is not name=value of letters, digits, '.', '_', '-'"
        name, setting = match.groups()
        if name not in POSTGRES_PARAMS:
            return f"sets the parameter {name!r}; only {', '.join(POSTGRES_PARAMS)} may be set"
        if name in seen:
            return f"sets {name!r} twice (libpq takes the last, others the first)"
        if name in PARAM_VALUES and setting not in PARAM_VALUES[name]:
            return f"sets {name} to a value other than {' or '.join(PARAM_VALUES[name])}"
        if name == "connect_timeout" and not _PG_TIMEOUT.fullmatch(setting):
            return "sets connect_timeout to something other than 1-9999 seconds"
        seen[name] = setting
    if seen.get("sslmode") != "verify-full":
        return (
            "must set sslmode=verify-full: with require or verify-ca the Go API's pgx accepts any certificate, and "
            "channel_binding=require does not stop it from sending the password (docs/runbook.md, Rotate a secret)"
        )
    return None


# SMTP submission ports a mail provider listens on (RFC 6409: 587, RFC 8314: 465; 2525 the common alternative).
# Not 25: relay without authentication, and Hetzner blocks it outbound on new accounts. The app's NetworkPolicy
# opens this port to the internet: any other value would let pods reach that service anywhere (a node's 22, 6443,
# 2379-2380, 10250 or 8472 included).
SMTP_PORTS = (465, 587, 2525)
