"""``reasonir serve INDEX_DIR [--host 127.0.0.1] [--port 8000] [--api-key KEY]``."""

from __future__ import annotations

import argparse

#: the commands this module registers, with the one-line help ``reasonir --help`` lists
COMMANDS = {
    "serve": "serve an index over HTTP (search API, OpenAI embeddings, web page)",
}


def register(sub: argparse._SubParsersAction) -> None:
    from ..config import add_arguments
    from ..serve.server import ServeConfig

    p = sub.add_parser("serve", help=COMMANDS["serve"],
                       description="POST /search, GET /documents/{id}, POST /v1/embeddings, GET /health, and a "
                                   "search page at /. Binds to 127.0.0.1 unless --host says otherwise.")
    add_arguments(p, ServeConfig)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ..config import from_args
    from ..serve.server import ServeConfig, serve

    cfg = from_args(ServeConfig, args)
    cfg.validate()                     # an empty --api-key etc. fails here, before "serving ..." is printed
    print(f"serving {cfg.index_dir} on http://{cfg.host}:{cfg.port}/  (Ctrl-C to stop)", flush=True)
    serve(cfg)
    return 0
