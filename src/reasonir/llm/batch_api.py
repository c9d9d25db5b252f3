"""The OpenAI Batch API as an LLM backend: submit, poll, gather; resumable by batch id.

``generate`` writes the requests as JSONL, uploads them (``/files``, purpose ``batch``), creates a
batch (``/batches``, 24 h window), records ``{batch_id, ...}`` in a state file named after the
request set, polls until the batch ends, then downloads the output (and error) files. If the process
stops while waiting, calling ``generate`` again with the same prompts finds the state file and
resumes polling the same batch instead of paying for a second one. Chat prompts and raw prompts go
in separate batches (one endpoint per batch). Costs use half the list price (the Batch API discount).

The two phases are also available separately: :meth:`OpenAIBatchLLM.submit`,
:meth:`OpenAIBatchLLM.poll`, :meth:`OpenAIBatchLLM.gather`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..io import write_json
from .base import Generation, GenerationParams, LLMError, Prompt, ResultCallback, is_chat, single_prompt
from .openai_compat import OPENAI_BASE_URL, chat_payload, completion_payload, parse_choice
from .stats import BATCH_DISCOUNT, LLMStats, deliver, lookup_price, token_cost
from .transport import JSONClient, RetryPolicy

logger = logging.getLogger(__name__)

TERMINAL = ("completed", "failed", "expired", "cancelled")


def default_state_dir() -> Path:
    """``$REASONIR_CACHE_DIR/openai-batches`` (or ``~/.cache/reasonir/openai-batches``)."""
    from ..embedded import cache_dir

    return cache_dir() / "openai-batches"


class OpenAIBatchLLM:
    """OpenAI (or a compatible service) through the Batch API.

    Args:
        model: model name, e.g. ``gpt-4o-mini``.
        base_url: API root (default OpenAI's).
        api_key: bearer token (default ``$OPENAI_API_KEY``).
        state_dir: where batch ids are recorded for resuming.
        poll_interval: seconds between status checks.
        max_wait: give up waiting after this many seconds (the batch keeps running; call again to
            resume). ``None`` waits until the batch ends.
        policy: HTTP retry policy.
        price: (input, output) USD per 1M tokens before the batch discount (default: list price).
    """

    supports_on_result = True

    def __init__(self, model: str, base_url: str = OPENAI_BASE_URL, api_key: str | None = None,
                 state_dir: str | os.PathLike | None = None, poll_interval: float = 30.0,
                 max_wait: float | None = None, policy: RetryPolicy | None = None,
                 price: tuple[float, float] | None = None, name: str | None = None):
        if api_key is None:
            api_key = os.environ.get("OPENAI_API_KEY")
            if not api_key and base_url.startswith(OPENAI_BASE_URL):
                raise LLMError("OPENAI_API_KEY is not set; export it or pass api_key=")
        self.model = model
        self.stats = LLMStats()
        self.client = JSONClient(base_url, {"Authorization": f"Bearer {api_key}"} if api_key else {}, policy,
                                 self.stats)
        self.state_dir = Path(state_dir) if state_dir is not None else default_state_dir()
        self.poll_interval = poll_interval
        self.max_wait = max_wait
        self.price = price if price is not None else lookup_price(model)
        # answers equal the synchronous API's: share its cache identity
        self.name = name or (f"openai:{model}" if base_url.startswith(OPENAI_BASE_URL)
                             else f"{base_url.rstrip('/')}#{model}")

    def __repr__(self) -> str:
        return f"OpenAIBatchLLM({self.name!r}, state_dir={str(self.state_dir)!r})"

    # ------------------------------------------------------------------ phases
    def _request_lines(self, prompts: Sequence[Prompt], params: GenerationParams) -> tuple[str, bytes]:
        chat = is_chat(prompts[0])
        endpoint = "/v1/chat/completions" if chat else "/v1/completions"
        lines = []
        for i, p in enumerate(prompts):
            body = chat_payload(self.model, p, params) if chat else completion_payload(self.model, p, params)  # type: ignore[arg-type]
            lines.append(json.dumps({"custom_id": f"req-{i}", "method": "POST", "url": endpoint, "body": body},
                                    ensure_ascii=False))
        return endpoint, ("\n".join(lines) + "\n").encode("utf-8")

    def _state_path(self, data: bytes) -> Path:
        digest = hashlib.sha256(self.client.base_url.encode() + b"\0" + data).hexdigest()[:32]
        return self.state_dir / f"{digest}.json"

    def submit(self, prompts: Sequence[Prompt], params: GenerationParams | None = None) -> str:
        """Upload and start a batch for ``prompts`` (all chat or all raw); returns the batch id.

        A batch already recorded for exactly this request set is reused (its id is returned).
        """
        params = params or GenerationParams()
        if len({is_chat(p) for p in prompts}) != 1:
            raise LLMError("one batch holds either chat prompts or raw prompts; split them")
        endpoint, data = self._request_lines(prompts, params)
        state = self._state_path(data)
        if state.exists():
            batch_id = json.loads(state.read_text(encoding="utf-8"))["batch_id"]
            logger.info("resuming batch %s (recorded in %s)", batch_id, state)
            return batch_id
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"requests.jsonl\"\r\n"
                "Content-Type: application/jsonl\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        upload = self.client.request("POST", "/files", raw_body=body,
                                     content_type=f"multipart/form-data; boundary={boundary}")
        batch = self.client.request("POST", "/batches", {
            "input_file_id": upload["id"], "endpoint": endpoint, "completion_window": "24h",
            "metadata": {"description": f"reasonir {len(prompts)} requests"}})
        write_json(state, {"batch_id": batch["id"], "input_file_id": upload["id"], "endpoint": endpoint,
                           "requests": len(prompts), "model": self.model, "created": time.time()})
        logger.info("submitted batch %s (%d requests, state %s)", batch["id"], len(prompts), state)
        return batch["id"]

    def poll(self, batch_id: str) -> dict[str, Any]:
        """Wait until the batch reaches a terminal state (or ``max_wait`` passes); return its object.

        Raises:
            LLMError: when ``max_wait`` passed first (the batch keeps running; call again to resume).
        """
        t0 = time.monotonic()
        while True:
            batch = self.client.request("GET", f"/batches/{batch_id}")
            status = batch.get("status")
            if status in TERMINAL:
                return batch
            counts = batch.get("request_counts") or {}
            logger.info("batch %s: %s (%s/%s done)", batch_id, status, counts.get("completed", "?"),
                        counts.get("total", "?"))
            if self.max_wait is not None and time.monotonic() - t0 + self.poll_interval > self.max_wait:
                raise LLMError(f"batch {batch_id} is still {status} after {self.max_wait:g}s; "
                               "run the same job again to resume waiting for it")
            time.sleep(self.poll_interval)

    def gather(self, batch: dict[str, Any], n: int) -> list[Generation | None]:
        """Download a finished batch's results: one entry per request (``None`` where it failed)."""
        out: list[Generation | None] = [None] * n
        chat = batch.get("endpoint", "/v1/chat/completions").endswith("chat/completions")
        errors: list[str] = []
        for key in ("output_file_id", "error_file_id"):
            file_id = batch.get(key)
            if not file_id:
                continue
            content = self.client.request("GET", f"/files/{file_id}/content", expect_json=False)
            for line in content.decode("utf-8").splitlines():
                if not line.strip():
                    continue
                row = json.loads(line)
                i = int(str(row["custom_id"]).rsplit("-", 1)[1])
                resp = row.get("response") or {}
                if row.get("error") or resp.get("status_code", 200) >= 400:
                    errors.append(str(row.get("error") or resp.get("body"))[:200])
                    continue
                gen = parse_choice(resp["body"], chat)
                gen.metadata["cost_usd"] = BATCH_DISCOUNT * token_cost(gen.prompt_tokens, gen.completion_tokens,
                                                                       self.price)
                gen.metadata["batch_id"] = batch["id"]
                out[i] = gen
        if errors:
            logger.warning("batch %s: %d requests failed (e.g. %s)", batch["id"], len(errors), errors[0])
        return out

    # ------------------------------------------------------------------ LLM protocol
    @single_prompt
    def generate(self, prompts: Sequence[Prompt], params: GenerationParams | None = None,
                 on_result: ResultCallback | None = None) -> list[Generation]:
        """Submit (or resume), wait, gather. One :class:`Generation` per prompt, in order.

        Raises:
            LLMError: when the batch failed or some requests failed (the others were delivered).
        """
        params = params or GenerationParams()
        results: list[Generation | None] = [None] * len(prompts)
        t0 = time.perf_counter()
        for group in ([i for i, p in enumerate(prompts) if is_chat(p)],
                      [i for i, p in enumerate(prompts) if not is_chat(p)]):
            if not group:
                continue
            sub = [prompts[i] for i in group]
            batch_id = self.submit(sub, params)
            batch = self.poll(batch_id)
            gens = self.gather(batch, len(sub)) if batch.get("status") != "failed" else [None] * len(sub)
            for j, gen in zip(group, gens):
                if gen is None:
                    continue
                deliver(results, j, gen, on_result, self.stats, cost_usd=gen.metadata["cost_usd"])
            _, data = self._request_lines(sub, params)
            self._state_path(data).unlink(missing_ok=True)      # finished: a re-run submits what is missing
            if batch.get("status") == "failed":
                raise LLMError(f"batch {batch_id} failed: {str(batch.get('errors'))[:300]}")
        self.stats.add(seconds=time.perf_counter() - t0)
        missing = sum(r is None for r in results)
        if missing:
            self.stats.add(failures=missing)
            raise LLMError(f"{missing} of {len(prompts)} batch requests failed; the others are delivered, "
                           "run again to retry the failed ones")
        return results  # type: ignore[return-value]

