"""``reasonir llm-serve SPEC [--host 127.0.0.1] [--port 8001]``: an OpenAI-compatible server."""

from __future__ import annotations

import argparse

#: the commands this module registers, with the one-line help ``reasonir --help`` lists
COMMANDS = {
    "llm-serve": "serve an LLM over an OpenAI-compatible HTTP API",
}


def register(sub: argparse._SubParsersAction) -> None:
    from ..config import add_arguments
    from ..workflows.llm_serve import LLMServeConfig

    p = sub.add_parser("llm-serve", help=COMMANDS["llm-serve"],
                       description="Serve any LLM backend (default: the embedded smollm2) at /v1/chat/completions, "
                                   "/v1/completions and /v1/models. Binds 127.0.0.1 unless --host says otherwise.")
    add_arguments(p, LLMServeConfig)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ..config import from_args
    from ..workflows.llm_serve import LLMServeConfig, run_llm_serve

    cfg = from_args(LLMServeConfig, args)

    def ready(server) -> None:
        print(f"serving {server.llm.name} at {server.url}  (spec: {server.spec})", flush=True)

    run_llm_serve(cfg, on_ready=ready)
    return 0
