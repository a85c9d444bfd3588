"""Node settings: one typed object, from the environment (``TREX_*``) or a TOML file."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import stat
import tomllib
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

NODE_CONFIG_FILE = "trex.toml"
"""Written by ``trex-node init`` into the data directory; read when ``TREX_CONFIG`` is unset."""


def _config_file(data_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """``TREX_CONFIG``, else the node config in the data directory (given, or from the env)."""
    explicit = os.environ.get("TREX_CONFIG")
    if explicit:
        return Path(explicit)
    if data_dir is None:
        data_dir = os.environ.get("TREX_DATA_DIR", "./trex-data")
    candidate = Path(data_dir) / NODE_CONFIG_FILE
    return candidate if candidate.is_file() else None


SESSION_SECRET_FILE = "session-secret"  # noqa: S105  a file name, not a secret
"""Where a node keeps the session secret it generated, in its data directory (mode 0600)."""

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
_MIN_SECRET_LENGTH = 32
_MIN_SECRET_DISTINCT = 10
# Placeholders copied from examples: a secret holding one of them was never meant to be used.
_PLACEHOLDERS = (
    "changeme",
    "change-me",
    "change_me",
    "changethis",
    "replaceme",
    "replace-me",
    "insecure",
    "notsecret",
    "not-secret",
    "yoursecret",
    "your-secret",
    "secretkey",
    "secret-key",
    "secret_key",
    "example",
)


def weak_secret_reason(value: str) -> str | None:
    """Why ``value`` is an obviously weak session secret, or None when it is not."""
    if len(value) < _MIN_SECRET_LENGTH:
        return f"shorter than {_MIN_SECRET_LENGTH} characters"
    if len(set(value)) < _MIN_SECRET_DISTINCT:
        return "too repetitive"
    lowered = value.lower()
    for placeholder in _PLACEHOLDERS:
        if placeholder in lowered:
            return "it holds a placeholder word"
    return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


ProviderName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,31}$")]
Scope = Annotated[str, StringConstraints(pattern=r"^[\x21\x23-\x5b\x5d-\x7e]+$")]


class OidcProvider(BaseModel):
    """An OpenID Connect provider members may sign in with (the issuer allow-list).

    ``issuer`` is compared exactly with the discovery document's ``issuer`` and every ID
    token's ``iss``; the discovery document is read from
    ``<issuer>/.well-known/openid-configuration``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    name: ProviderName
    issuer: str
    client_id: str = Field(min_length=1, max_length=500)
    client_secret: SecretStr
    scopes: tuple[Scope, ...] = ("openid", "email")

    @field_validator("issuer")
    @classmethod
    def _issuer_is_https(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.query or parts.fragment or not parts.hostname:
            raise ValueError("must be an https URL with no query or fragment")
        # Plain http only on loopback (a provider run beside the node, or in tests).
        if parts.scheme != "https" and not (
            parts.scheme == "http" and _is_loopback(parts.hostname)
        ):
            raise ValueError("must be an https URL")
        return value

    @field_validator("scopes")
    @classmethod
    def _scopes_ask_for_identity(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        missing = [s for s in ("openid", "email") if s not in value]
        if missing:
            raise ValueError(f"must include {' and '.join(missing)}")
        return value

    @property
    def metadata_url(self) -> str:
        """The OpenID Connect discovery document of this issuer."""
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"


class Settings(BaseSettings):
    """Everything a node is configured with (SPEC section 3)."""

    # hide_input_in_errors: a refused value may be a secret (a weak session secret, a database
    # URL with its password); errors name the setting and why, never echo the value.
    model_config = SettingsConfigDict(
        env_prefix="TREX_", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    data_dir: Path = Path("./trex-data")
    database_url: str = ""
    node_id: str = Field(default="", pattern=r"^([a-z][a-z0-9-]{0,31})?$")
    node_name: str = ""
    node_country: str = ""
    public_url: str = DEFAULT_PUBLIC_URL
    token_ttl_days: int = Field(default=90, ge=1, le=3650)
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    # Only for POST /v1/screen/batch: up to 10,000 names, with the columns echoed back.
    max_batch_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    db_pool_size: int = Field(default=10, ge=1)
    # Threads of a worker process serving requests at once (Starlette's pool runs every
    # database-bound handler on one). They share one GIL: past a few, more threads only trade
    # the CPU for switching between them, and a request waits longer for its turn. A load test
    # on 2 cores answered 178 requests/s with 2 a worker and 119/s with Starlette's 40.
    request_threads: int = Field(default=4, ge=1, le=64)
    # Federation: how often the server's sync runner pulls each peer (0: no runner in the
    # server, e.g. when 'trex-node sync' runs as its own service), and the page size it asks for.
    sync_interval_seconds: float = Field(default=30.0, ge=0)
    sync_page_size: int = Field(default=500, ge=1, le=1000)
    peer_timeout_seconds: float = Field(default=30.0, gt=0)
    # Web sign-in with OpenID Connect: off while the list is empty.
    oidc_providers: tuple[OidcProvider, ...] = ()
    session_secret: SecretStr | None = None
    session_ttl_hours: int = Field(default=12, ge=1, le=24 * 30)
    secure_cookies: bool = False
    """Mark the session cookie Secure; defaults to true when ``public_url`` is https."""
    # Rate limits (service/api/hardening.py), per worker process: requests a second and burst,
    # per bearer token and per client address; a rate of 0 turns that limit off.
    rate_limit_token_per_second: float = Field(default=20.0, ge=0)
    rate_limit_token_burst: int = Field(default=100, ge=1)
    rate_limit_address_per_second: float = Field(default=50.0, ge=0)
    rate_limit_address_burst: int = Field(default=200, ge=1)
    # Reverse proxies (addresses or networks) whose X-Forwarded-For names the client.
    trusted_proxies: tuple[str, ...] = ()
    # Browser origins allowed to call the API cross-origin (CORS); none by default.
    cors_origins: tuple[str, ...] = ()

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins_are_exact(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            parts = urlsplit(origin)
            # Exact origins only: a wildcard would let every site read members' answers.
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.path:
                raise ValueError(f"{origin!r} is not an origin like https://app.example.org")
        return value

    @model_validator(mode="before")
    @classmethod
    def _secure_cookies_follow_public_url(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("secure_cookies") is None:
            public_url = str(data.get("public_url") or DEFAULT_PUBLIC_URL)
            data = {**data, "secure_cookies": public_url.lower().startswith("https://")}
        return data

    @field_validator("public_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("oidc_providers")
    @classmethod
    def _provider_names_are_unique(
        cls, value: tuple[OidcProvider, ...]
    ) -> tuple[OidcProvider, ...]:
        names = [p.name for p in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"provider names must be unique: {', '.join(duplicates)}")
        return value

    @field_validator("session_secret")
    @classmethod
    def _session_secret_is_strong(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            reason = weak_secret_reason(value.get_secret_value())
            if reason is not None:
                raise ValueError(f"is too weak ({reason}); leave it unset to have one generated")
        return value

    def resolved_session_secret(self) -> str:
        """``session_secret``, else the one generated once into the data directory."""
        if self.session_secret is not None:
            return self.session_secret.get_secret_value()
        return load_or_create_secret(self.data_dir / SESSION_SECRET_FILE)

    @property
    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL, defaulting to the embedded SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'node.db').resolve()}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        # Settings(data_dir=...) names the data directory: read that node's config, not the
        # one TREX_DATA_DIR (or ./trex-data) happens to point at.
        given_dir = (
            init_settings.init_kwargs.get("data_dir")
            if isinstance(init_settings, InitSettingsSource)
            else None
        )
        config_file = _config_file(given_dir)
        if config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)


def load_or_create_secret(path: Path) -> str:
    """The secret in ``path``, created once (random, mode 0600) when the file does not exist.

    Several workers may start at once: each writes a private temporary file and links it into
    place, so exactly one secret wins and every worker reads that one, never a half-written file.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w", encoding="ascii") as handle:
                handle.write(secrets.token_urlsafe(48) + "\n")
            # Another worker may have won the race: then its secret is the one.
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ValueError(f"{path} is readable by others: make it private (chmod 600 {path})")
    value = path.read_text(encoding="ascii").strip()
    reason = weak_secret_reason(value)
    if reason is not None:
        raise ValueError(f"the session secret in {path} is too weak ({reason})")
    return value


def read_node_config(data_dir: Path) -> dict[str, Any]:
    """The values ``trex-node init`` stored for this data directory, if any."""
    path = data_dir / NODE_CONFIG_FILE
    if not path.is_file():
        return {}
    with path.open("rb") as handle:
        return tomllib.load(handle)
