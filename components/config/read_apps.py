"""Reads the apps, services, edge, maintenance and adoption sections of the stack config."""

from __future__ import annotations

from typing import cast

from components.config import checks as check
from components.config import credentials, cron, hosts
from components.config.model import (
    AppsConfig,
    EdgeConfig,
    EdgeOrigins,
    MaintenanceConfig,
    ServicesConfig,
    SslMode,
    StackConfig,
)
from components.config.reader import Reader, check_bucket

# Startup probes run every STARTUP_PERIOD_SECONDS (5 s): 720 failures is an hour, beyond which a pod that never
# starts is better restarted than waited for.
MAX_STARTUP_FAILURES = 720


# The Origin CA certificate is renewed by hand (a replacement in an `up`): a year at least between renewals.
MIN_ORIGIN_CERT_DAYS = 365


def _read_images(r: Reader) -> tuple[dict[str, str], str]:
    """The four images and the registry of the pull secret."""
    images = {key: r.string(key) for key in ("apiImage", "adminImage", "workerImage", "redisImage")}
    for key, image in images.items():
        if image:
            r.check(key, check.image_reference(image))
    registry = r.string("imageRegistry")
    host, colon, port = registry.partition(":")
    if registry:
        r.check("imageRegistry", check.dns_name(host))
    if colon and not (port.isascii() and port.isdigit() and port[0] != "0" and int(port) <= 65535):
        r.problem("imageRegistry", f"{registry!r} has a port that is not 1-65535")
    # The pull secret is for imageRegistry only: an app image from anywhere else is pulled without it (or from a
    # registry the credential was never meant for). Redis is a public image.
    # One mistake, one problem: a bad registry is reported alone, and a registry none of the apps' images
    # comes from is reported on imageRegistry once, not on every image.
    if not registry or r.has_problem("imageRegistry"):
        return images, registry
    apps = {
        key: images[key] for key in ("apiImage", "adminImage", "workerImage") if images[key] and not r.has_problem(key)
    }
    elsewhere = [key for key, image in apps.items() if check.image_registry(image) != registry]
    if len(elsewhere) == 3:
        registries = sorted({check.image_registry(apps[key]) for key in elsewhere})
        r.problem("imageRegistry", f"is {registry}, but the apps' images are from {', '.join(registries)}: the pull "
                  "secret would apply to none of them")  # fmt: skip
        return images, registry
    for key in elsewhere:
        r.problem(key, f"{apps[key]!r} is not from imageRegistry {registry}, the registry of the pull secret")
    return images, registry


def read_apps(r: Reader) -> AppsConfig:
    images, registry = _read_images(r)
    storage = r.string("redisStorageSize")
    if storage and not check.QUANTITY.fullmatch(storage):
        r.problem("redisStorageSize", f"{storage!r} is not a size like 5Gi (Mi, Gi or Ti)")
    elif storage and check.quantity_mib(storage) > check.MAX_VOLUME_MIB:
        r.problem("redisStorageSize", f"{storage!r} is larger than a Hetzner Cloud Volume can be (10Ti)")
    namespace = r.string("appNamespace")
    if namespace and not check.DNS_LABEL.fullmatch(namespace):
        r.problem("appNamespace", f"{namespace!r} is not a valid Kubernetes namespace name")
    elif namespace.startswith("kube-") or namespace == "default":
        r.problem("appNamespace", f"{namespace!r} is a namespace reserved for Kubernetes itself")
    username = r.string("registryUsername")
    if username:
        r.check("registryUsername", check.registry_user(username))
    return AppsConfig(
        namespace=namespace,
        domain=r.string("domain"),
        api_hostname=r.string("apiHostname"),
        admin_hostname=r.string("adminHostname"),
        api_image=images["apiImage"],
        admin_image=images["adminImage"],
        worker_image=images["workerImage"],
        redis_image=images["redisImage"],
        api_replicas=r.integer("apiReplicas", maximum=check.MAX_REPLICAS),
        admin_replicas=r.integer("adminReplicas", maximum=check.MAX_REPLICAS),
        api_startup_failure_threshold=r.integer("apiStartupFailureThreshold", maximum=MAX_STARTUP_FAILURES),
        admin_startup_failure_threshold=r.integer("adminStartupFailureThreshold", maximum=MAX_STARTUP_FAILURES),
        redis_storage_size=storage,
        image_registry=registry,
        registry_username=username,
        registry_password=r.secret("registryPassword", token=True),
    )


def read_services(r: Reader) -> ServicesConfig:
    database_url = r.secret("databaseUrl")
    if database_url.value:
        r.check("databaseUrl", hosts.neon_pooler_url(database_url.value))
    b2_endpoint = r.string("b2Endpoint")
    smtp_host = r.string("smtpHost")
    if smtp_host and smtp_host not in hosts.SMTP_HOSTS:
        r.problem("smtpHost", f"{smtp_host!r} is not a known mail submission host ({', '.join(hosts.SMTP_HOSTS)})")
    smtp_port = r.integer("smtpPort", maximum=65535)
    if smtp_port not in hosts.SMTP_PORTS and not r.has_problem("smtpPort"):
        r.problem("smtpPort", f"must be an SMTP port ({', '.join(map(str, hosts.SMTP_PORTS))}); got {smtp_port}")
    b2_bucket, b2_region = r.string("b2Bucket"), r.string("b2Region")
    check_bucket(
        r, ("b2Bucket", b2_bucket), ("b2Region", b2_region), ("b2Endpoint", b2_endpoint), providers=("backblazeb2.com",)
    )
    app_secret_key = r.secret("appSecretKey")
    if app_secret_key.value and len(app_secret_key.value) < 32:
        r.problem("appSecretKey", "must be at least 32 characters long")
    elif app_secret_key.value and not app_secret_key.value.isascii():
        r.problem("appSecretKey", "holds characters that are not ASCII; generate one with `openssl rand -base64 48`")
    elif app_secret_key.value and not r.has_problem("appSecretKey"):
        r.check("appSecretKey", credentials.secret_strength(app_secret_key.value))
    return ServicesConfig(
        database_url=database_url,
        b2_bucket=b2_bucket,
        b2_endpoint=b2_endpoint,
        b2_region=b2_region,
        b2_key_id=r.secret("b2KeyId", token=True),
        b2_application_key=r.secret("b2ApplicationKey", token=True),
        smtp_host=smtp_host,
        smtp_port=smtp_port,
        smtp_username=r.secret("smtpUsername"),
        smtp_password=r.secret("smtpPassword"),
        app_secret_key=app_secret_key,
    )


def read_edge(r: Reader) -> EdgeConfig:
    validity = r.integer("originCertValidityDays")
    if validity not in check.ORIGIN_CERT_VALIDITIES:
        allowed = ", ".join(str(v) for v in check.ORIGIN_CERT_VALIDITIES)
        r.problem("originCertValidityDays", f"must be one of {allowed} (Cloudflare Origin CA), got {validity}")
    elif validity < MIN_ORIGIN_CERT_DAYS:
        # Nothing renews the certificate: when it expires, Full (strict) answers 526 for every request.
        r.problem("originCertValidityDays", f"{validity} days expire before anyone renews it; at least 365")
    zone_id = r.string("cloudflareZoneId", optional=True) or None
    if zone_id:
        r.check("cloudflareZoneId", check.zone_id(zone_id))
    origins = cast(EdgeOrigins, r.one_of("edgeOrigins", check.EDGE_ORIGINS))
    account_id = r.string("cloudflareAccountId", optional=True) or None
    if account_id:
        r.check("cloudflareAccountId", check.zone_id(account_id, "account"))
    elif origins == "loadBalancer":
        r.problem(
            "cloudflareAccountId",
            "is required with edgeOrigins loadBalancer (the pool and its monitor belong to the account); "
            "set it with: pulumi config set honeydue:cloudflareAccountId <32 hex digits>",
        )
    ssl_mode = cast(SslMode, r.one_of("sslMode", check.SSL_MODES))
    required = r.boolean("originPullsRequired")
    if required and ssl_mode == "flexible":
        # Flexible reaches the origins over HTTP, where no client certificate exists; going back to Flexible drops
        # the requirement in the same `up` (edge/cutover.py), so the config says so too.
        r.problem(
            "originPullsRequired",
            "applies to sslMode full or strict only (Flexible reaches the origins over HTTP, without a client "
            "certificate); unset it together with the switch: pulumi config rm honeydue:originPullsRequired",
        )
    return EdgeConfig(
        zone_id=zone_id,
        ssl_mode=ssl_mode,
        origin_cert_validity_days=validity,
        origins=origins or "records",
        account_id=account_id,
        origin_pulls_required=required,
    )


def read_maintenance(r: Reader, *, offsite: bool) -> MaintenanceConfig:
    schedule = r.string("redisBackupSchedule")
    if schedule:
        r.check("redisBackupSchedule", cron.backup_schedule(schedule))
    folder = r.string("redisBackupFolder")
    if folder and not check.BUCKET_FOLDER.fullmatch(folder):
        r.problem("redisBackupFolder", f"{folder!r} must be letters, digits, '-', '_' or '/' (no leading '/')")
    days = r.strings("rebootDays")
    if not days or set(days) - set(check.WEEKDAYS):
        r.problem("rebootDays", f"must be a non-empty list of {', '.join(check.WEEKDAYS)}; got {list(days)[:8]}")
    elif len(set(days)) != len(days):
        r.problem("rebootDays", "names a day twice")
    times = {key: r.string(key) for key in ("rebootStartTime", "rebootEndTime")}
    for key, value in times.items():
        if value and not check.CLOCK_TIME.fullmatch(value):
            r.problem(key, f"{value!r} is not a time like 02:00 (24-hour HH:MM)")
    if times["rebootStartTime"] and times["rebootStartTime"] == times["rebootEndTime"]:
        r.problem("rebootEndTime", "equals rebootStartTime: the reboot window would be empty, and nodes never patched")
    zone = r.string("rebootTimeZone")
    if zone:
        r.check("rebootTimeZone", check.time_zone(zone))
    return MaintenanceConfig(
        csi_token=r.secret("hcloudCsiToken", token=credentials.HETZNER),
        redis_backup_access_key=r.secret("redisBackupAccessKey", required=offsite, token=True),
        redis_backup_secret_key=r.secret("redisBackupSecretKey", required=offsite, token=True),
        redis_backup_schedule=schedule,
        redis_backup_folder=folder,
        reboot_days=days,
        reboot_start=times["rebootStartTime"],
        reboot_end=times["rebootEndTime"],
        reboot_time_zone=zone,
    )


def read_adopt(r: Reader) -> dict[str, str]:
    """`<resource name>=<provider id>` entries; which names exist is checked by components.adoption."""
    adopt: dict[str, str] = {}
    for i, entry in enumerate(r.strings("adoptIds")):
        name, sep, import_id = entry.partition("=")
        if not sep or not check.RESOURCE_NAME.fullmatch(name) or not check.IMPORT_ID.fullmatch(import_id):
            r.problem(f"adoptIds[{i}]", f"{entry!r} is not of the form <resource name>=<provider id>")
        elif name in adopt:
            r.problem(f"adoptIds[{i}]", f"{name} is listed twice")
        else:
            adopt[name] = import_id
    return adopt


def check_hostnames(r: Reader, config: StackConfig) -> None:
    domain = config.apps.domain
    if not domain:
        return
    problem = check.dns_name(domain)
    r.check("domain", problem)
    if problem:
        return
    hostnames = {"apiHostname": config.apps.api_hostname, "adminHostname": config.apps.admin_hostname}
    if config.k3s.api_dns_name:
        hostnames["apiDnsName"] = config.k3s.api_dns_name
    for key, hostname in hostnames.items():
        if hostname:
            r.check(key, check.hostname_under(hostname, domain))
        # Proxied names get Cloudflare's Universal SSL and the Origin CA certificate, both for the domain and one
        # level below it (*.domain): a deeper name fails TLS at the edge, or with 526 in Full (strict).
        if key != "apiDnsName" and hostname.count(".") > domain.count(".") + 1 and not r.has_problem(key):
            r.problem(key, f"{hostname} is more than one level below {domain}; certificates cover *.{domain} only")
    # Each name gets its own DNS record (and Traefik route): two keys on one name collide.
    taken = {domain: "domain (the apex)", f"www.{domain}": "the www name of domain"}
    for key, hostname in hostnames.items():
        if hostname in taken:
            r.problem(key, f"{hostname} is already {taken[hostname]}; every public name must be distinct")
        elif hostname:
            taken[hostname] = key


def check_buckets(r: Reader, config: StackConfig) -> None:
    """The uploads bucket is never the snapshots' (the apps' key could delete etcd's disaster recovery), and Redis
    backups never share a folder with etcd snapshots in the bucket they share."""
    s3 = config.k3s.etcd_s3
    if s3 is None:
        return
    if config.services.b2_bucket == s3.bucket:
        r.problem("b2Bucket", f"{s3.bucket} is also etcdS3Bucket; keep uploads apart from the etcd snapshots")
    redis, etcd = config.maintenance.redis_backup_folder.strip("/"), s3.folder.strip("/")
    if redis and etcd and (redis == etcd or redis.startswith(etcd + "/") or etcd.startswith(redis + "/")):
        r.problem("redisBackupFolder", f"{redis} overlaps etcdS3Folder {etcd}; Redis backups need their own folder")
