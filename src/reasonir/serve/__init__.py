"""HTTP API and web page over a persistent index (extra ``serve``: FastAPI + uvicorn)."""

from .app import ServeLimits, create_app
from .server import ServeConfig, serve

__all__ = ["ServeConfig", "ServeLimits", "create_app", "serve"]
