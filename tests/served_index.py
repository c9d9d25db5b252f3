"""A small hash-encoder index and the `reasonir serve` app over it on a free 127.0.0.1 port (for adapter tests)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

from reasonir.index import IndexOptions, build_index
from reasonir.io import write_corpus
from reasonir.types import Document

TOPICS = {
    "plants": "photosynthesis chlorophyll light energy plants sugar leaves",
    "quakes": "plate tectonics earthquakes continents drift faults",
    "insulin": "insulin glucose pancreas blood sugar diabetes hormone",
    "neurons": "neurons synapses action potential brain signal axon",
    "gravity": "black holes gravity event horizon spacetime mass",
}


def make_docs() -> list[Document]:
    """Four documents per topic (ids ``{topic}-{n}``), titled by topic, one with stored metadata."""
    docs = []
    for topic, words in TOPICS.items():
        for n in range(4):
            docs.append(Document(f"{topic}-{n}", f"{words} note {n}", title=topic.title(),
                                 metadata={"source": "tests", "n": n}))
    return docs


def build_small_index(root: Path, bm25: bool = True) -> Path:
    """Build the index of :func:`make_docs` with the model-free ``hash`` encoder under ``root``."""
    write_corpus(root / "corpus.jsonl", make_docs())
    build_index(str(root / "corpus.jsonl"), str(root / "idx"), IndexOptions(model="hash", bm25=bm25))
    return root / "idx"


class RunningServer:
    """uvicorn serving ``app`` in a thread on a socket bound to a free 127.0.0.1 port (``url``); ``stop()`` ends it."""

    def __init__(self, app, start_timeout: float = 60.0):
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        t0 = time.monotonic()
        while not self.server.started:
            if time.monotonic() - t0 > start_timeout:
                raise TimeoutError(f"the server did not start within {start_timeout:.0f} s")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


class ServedIndex(RunningServer):
    """``reasonir serve INDEX --api-key KEY`` (its app, built by ``build_app``) under uvicorn in a thread."""

    def __init__(self, index_dir: Path, api_key: str | None = None):
        from reasonir.serve.server import ServeConfig, build_app

        cfg = ServeConfig(index_dir=str(index_dir), host="127.0.0.1", port=0, api_key=api_key)
        super().__init__(build_app(cfg))
