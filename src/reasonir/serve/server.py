"""``reasonir serve INDEX_DIR``: open an index and run the HTTP API with uvicorn."""

from __future__ import annotations

import ipaddress
import logging
import os
from dataclasses import dataclass, field

from ..errors import ConfigError, require
from ..index import Index
from ..netguard import AllowedHosts, normalize_api_key
from .app import ServeLimits, create_app

logger = logging.getLogger(__name__)


@dataclass
class ServeConfig:
    """Options of ``reasonir serve``."""

    index_dir: str = field(metadata={"positional": True, "help": "an index built by `reasonir index build`"})
    host: str = field(default="127.0.0.1", metadata={"help": "interface to bind (0.0.0.0 exposes it to the network)"})
    port: int = field(default=8000, metadata={"help": "TCP port"})
    api_key: str | None = field(default=None, metadata={
        "help": "require this key (Authorization: Bearer KEY); default: $REASONIR_API_KEY, else none"})
    allowed_hosts: list[str] = field(default_factory=list, metadata={
        "help": "without an API key, Host header names to answer besides localhost and the bind address "
                "(e.g. a name this machine is reached by; '*' turns the DNS-rebinding check off)"})
    model: str | None = field(default=None, metadata={"help": "encoder location override (must be the same model)"})
    device: str = field(default="auto", metadata={"help": "encoder device"})
    batch_size: int | None = field(default=None, metadata={"help": "query encoding batch size"})
    max_body_bytes: int = field(default=1 << 20, metadata={"help": "largest accepted request body"})
    max_query_chars: int = field(default=32768, metadata={"help": "longest accepted query or embedding input"})
    max_k: int = field(default=1000, metadata={"help": "largest k a request may ask for"})
    max_embedding_inputs: int = field(default=256, metadata={"help": "most texts per /v1/embeddings request"})
    max_batch: int = field(default=32, metadata={"help": "concurrent searches batched into one model call"})
    batch_wait_ms: float = field(default=2.0, metadata={"help": "how long to wait to fill a batch"})

    def resolved_api_key(self) -> str | None:
        """The key to require: ``api_key``, else ``$REASONIR_API_KEY``, else none.

        Raises:
            ConfigError: when the given key (or the variable, when set) is empty.
        """
        if self.api_key is not None:
            return normalize_api_key(self.api_key, "--api-key")
        return normalize_api_key(os.environ.get("REASONIR_API_KEY"), "$REASONIR_API_KEY")

    def allowed(self, api_key: str | None) -> AllowedHosts | None:
        """The Host-header check: always without a key; with a key only when hosts were listed."""
        if api_key is not None and not self.allowed_hosts:
            return None
        return AllowedHosts.for_server(self.host, self.allowed_hosts)

    def validate(self) -> str | None:
        """Check the options before anything is loaded; returns the API key to require.

        Raises:
            ConfigError: for an empty API key, a bad port or a malformed allowed host.
        """
        api_key = self.resolved_api_key()
        if self.port < 0 or self.port > 65535:
            raise ConfigError(f"port must be 0..65535, got {self.port}")
        self.allowed(api_key)
        return api_key

    def limits(self) -> ServeLimits:
        return ServeLimits(max_body_bytes=self.max_body_bytes, max_query_chars=self.max_query_chars,
                           max_k=self.max_k, max_embedding_inputs=self.max_embedding_inputs,
                           max_batch=self.max_batch, batch_wait_ms=self.batch_wait_ms)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_app(cfg: ServeConfig):
    """Open the index (loading the encoder now, so the first request is fast) and create the app."""
    api_key = cfg.validate()
    if not _is_loopback(cfg.host) and api_key is None:
        logger.warning("serving on %s without an API key: anyone who can reach this port can query the index "
                       "(set --api-key or REASONIR_API_KEY)", cfg.host)
    index = Index.open(cfg.index_dir, model=cfg.model, device=cfg.device, batch_size=cfg.batch_size)
    index.encoder  # noqa: B018 - load (and fingerprint-check) the encoder before accepting requests
    return create_app(index, api_key=api_key, limits=cfg.limits(), allowed_hosts=cfg.allowed(api_key))


def serve(cfg: ServeConfig) -> None:
    """Run the server until interrupted."""
    uvicorn = require("uvicorn", "serve")
    app = build_app(cfg)
    logger.info("serving %s on http://%s:%d/", cfg.index_dir, cfg.host, cfg.port)
    uvicorn.run(app, host=cfg.host, port=cfg.port, log_level="warning", access_log=False)
