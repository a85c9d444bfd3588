"""Node settings: one typed object, from the environment (``TREX_*``) or a TOML file."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
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


class Settings(BaseSettings):
    """Everything a node is configured with (SPEC section 3)."""

    model_config = SettingsConfigDict(env_prefix="TREX_", extra="ignore", frozen=True)

    data_dir: Path = Path("./trex-data")
    database_url: str = ""
    node_id: str = Field(default="", pattern=r"^([a-z][a-z0-9-]{0,31})?$")
    node_name: str = ""
    node_country: str = ""
    public_url: str = "http://127.0.0.1:8000"
    token_ttl_days: int = Field(default=90, ge=1, le=3650)
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)
    db_pool_size: int = Field(default=10, ge=1)

    @field_validator("public_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

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


def read_node_config(data_dir: Path) -> dict[str, Any]:
    """The values ``trex-node init`` stored for this data directory, if any."""
    path = data_dir / NODE_CONFIG_FILE
    if not path.is_file():
        return {}
    with path.open("rb") as handle:
        return tomllib.load(handle)
