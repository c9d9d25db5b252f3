"""Real HTTP servers for the LLM tests: a fault-injecting OpenAI-compatible server and a Batch API.

Both run on 127.0.0.1 on a free port in a background thread and answer deterministically
(``echo:<last message>``), so tests can check what reached the server and what came back.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def last_text(body: dict[str, Any]) -> str:
    if "messages" in body:
        return body["messages"][-1]["content"]
    return body.get("prompt", "")


def ok_body(body: dict[str, Any]) -> dict[str, Any]:
    text = "echo:" + last_text(body)
    chat = "messages" in body
    choice = ({"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"} if chat
              else {"index": 0, "text": text, "finish_reason": "stop"})
    n_in = len(last_text(body).split())
    return {"id": "x", "object": "chat.completion" if chat else "text_completion", "model": body.get("model", "m"),
            "choices": [choice], "usage": {"prompt_tokens": n_in, "completion_tokens": 1 + n_in}}


class _FaultHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: FaultServer

    def log_message(self, *args: Any) -> None:
        pass

    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        self._json(200, {"object": "list", "data": [{"id": "fault-model", "object": "model"}]})

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        action = self.server.next_action(body)
        self.server.seen.append(last_text(body))
        self.server.actions[action] += 1
        if self.server.delay:
            time.sleep(self.server.delay)
        if action == "ok":
            self._json(200, ok_body(body))
        elif action in ("429", "500", "502", "503", "400", "401"):
            headers = {"Retry-After": "0"} if action == "429" else {}
            self._json(int(action), {"error": {"message": f"injected {action}"}}, headers)
        elif action == "timeout":
            time.sleep(self.server.hang)
            self._json(200, ok_body(body))
        elif action == "truncate":
            data = json.dumps(ok_body(body)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data) + 50))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
        elif action == "nonjson":
            data = b"<html><body>502 Bad Gateway (proxy)</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        elif action == "close":
            self.close_connection = True
            self.connection.shutdown(2)
        else:
            raise ValueError(action)


class FaultServer(ThreadingHTTPServer):
    """An OpenAI-compatible server that misbehaves on cue.

    Args:
        script: actions for the next requests, in order (``ok``, ``429``, ``500``, ``503``, ``400``,
            ``timeout``, ``truncate``, ``nonjson``, ``close``); ``ok`` once it runs out.
        poison: prompts containing this text always get HTTP 500.
        delay: seconds every request waits before answering.
        hang: seconds a ``timeout`` action sleeps.
    """

    daemon_threads = True

    def __init__(self, script: list[str] | None = None, poison: str | None = None, delay: float = 0.0,
                 hang: float = 2.0):
        super().__init__(("127.0.0.1", 0), _FaultHandler)
        self.script = deque(script or [])
        self.poison = poison
        self.delay = delay
        self.hang = hang
        self.actions: Counter[str] = Counter()
        self.seen: list[str] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def next_action(self, body: dict[str, Any]) -> str:
        if self.poison and self.poison in last_text(body):
            return "500"
        with self._lock:
            return self.script.popleft() if self.script else "ok"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()
        self.server_close()


# --------------------------------------------------------------------------------------------------
# OpenAI Batch API
# --------------------------------------------------------------------------------------------------
class _BatchHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: FakeBatchAPI

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, data: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        s = self.server
        s.calls[("POST", self.path)] += 1
        if self.path == "/v1/files":
            boundary = self.headers["Content-Type"].split("boundary=")[1]
            parts = raw.split(b"--" + boundary.encode())
            part = next(p for p in parts if b'name="file"' in p)
            content = part.split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n", 1)[0]
            assert b'name="purpose"' in raw and b"batch" in raw
            fid = f"file-{uuid.uuid4().hex[:8]}"
            s.files[fid] = content
            self._send(200, json.dumps({"id": fid, "object": "file", "purpose": "batch"}).encode())
        elif self.path == "/v1/batches":
            body = json.loads(raw)
            bid = f"batch_{uuid.uuid4().hex[:8]}"
            s.batches[bid] = {"id": bid, "object": "batch", "endpoint": body["endpoint"],
                              "input_file_id": body["input_file_id"], "status": "validating", "polls": 0}
            self._send(200, json.dumps(s.public(bid)).encode())
        else:
            self._send(404, b'{"error": {"message": "no route"}}')

    def do_GET(self) -> None:  # noqa: N802
        s = self.server
        s.calls[("GET", self.path.split("/")[2] if self.path.count("/") >= 2 else self.path)] += 1
        if self.path.startswith("/v1/batches/"):
            bid = self.path.rsplit("/", 1)[1]
            b = s.batches[bid]
            b["polls"] += 1
            if b["polls"] > s.polls_to_finish and b["status"] != "completed":
                s.finish(bid)
            elif b["status"] == "validating":
                b["status"] = "in_progress"
            self._send(200, json.dumps(s.public(bid)).encode())
        elif self.path.startswith("/v1/files/") and self.path.endswith("/content"):
            fid = self.path.split("/")[3]
            self._send(200, s.files[fid], "application/jsonl")
        else:
            self._send(404, b'{"error": {"message": "no route"}}')


class FakeBatchAPI(ThreadingHTTPServer):
    """Files + Batches endpoints; a batch completes after ``polls_to_finish`` status checks.

    Requests whose prompt contains ``poison`` end up in the error file.
    """

    daemon_threads = True

    def __init__(self, polls_to_finish: int = 1, poison: str | None = None):
        super().__init__(("127.0.0.1", 0), _BatchHandler)
        self.polls_to_finish = polls_to_finish
        self.poison = poison
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.calls: Counter[tuple[str, str]] = Counter()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    def public(self, bid: str) -> dict[str, Any]:
        return {k: v for k, v in self.batches[bid].items() if k != "polls"}

    def finish(self, bid: str) -> None:
        b = self.batches[bid]
        out, err = [], []
        for line in self.files[b["input_file_id"]].decode().splitlines():
            req = json.loads(line)
            if self.poison and self.poison in last_text(req["body"]):
                err.append({"id": "r", "custom_id": req["custom_id"], "response": None,
                            "error": {"code": "server_error", "message": "injected"}})
            else:
                out.append({"id": "r", "custom_id": req["custom_id"], "error": None,
                            "response": {"status_code": 200, "request_id": "q", "body": ok_body(req["body"])}})
        for key, rows in (("output_file_id", out), ("error_file_id", err)):
            if rows:
                fid = f"file-{uuid.uuid4().hex[:8]}"
                self.files[fid] = ("\n".join(json.dumps(r) for r in reversed(rows)) + "\n").encode()
                b[key] = fid
        b["status"] = "completed"
        b["request_counts"] = {"total": len(out) + len(err), "completed": len(out), "failed": len(err)}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def __enter__(self) -> FakeBatchAPI:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()
        self.server_close()


# --------------------------------------------------------------------------------------------------
# BRIGHT-format data with a corpus (the shared data has BRIGHT examples but no documents)
# --------------------------------------------------------------------------------------------------
def make_bright_dir(root, bright_dir, task: str = "biology", n: int = 3):
    """Write ``root/<task>/examples.jsonl`` (the first ``n`` real examples) and a synthetic corpus.

    Each query's gold documents talk about a made-up keyword (``kw<i>``) that its original text never
    uses; distractor documents copy words of the original query. BM25 with the original query therefore
    finds distractors, while a query variant mentioning the keyword finds the gold documents.

    Returns:
        ``(task_root, examples, keywords)`` where ``keywords[qid]`` is the query's made-up word.
    """
    import gzip
    from pathlib import Path

    root = Path(root)
    with gzip.open(Path(bright_dir) / task / "examples.jsonl.gz", "rt", encoding="utf-8") as fh:
        examples = [json.loads(line) for _, line in zip(range(n), fh)]
    (root / task).mkdir(parents=True, exist_ok=True)
    with open(root / task / "examples.jsonl", "w", encoding="utf-8") as fh:
        for ex in examples:
            fh.write(json.dumps(ex) + "\n")
    keywords = {ex["id"]: f"zqx{ex['id']}kw" for ex in examples}
    docs = []
    for ex in examples:
        kw = keywords[ex["id"]]
        for gold in ex["gold_ids"]:
            docs.append({"id": gold, "content": f"An explanation of {kw}: the mechanism of {kw} in detail."})
        words = [w for w in ex["query"].split() if w.isalpha()][:40]
        for j in range(8):
            docs.append({"id": f"distractor_{ex['id']}_{j}", "content": " ".join(words[j:j + 25])})
    with open(root / task / "documents.jsonl", "w", encoding="utf-8") as fh:
        for d in docs:
            fh.write(json.dumps(d) + "\n")
    return root, examples, keywords
