"""Feedback on long work: progress log lines off a terminal, a quiet ``-q``, one clear Hub error."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reasonir import _logging
from reasonir._logging import LogProgress, configure_logging, progress, progress_interval, set_progress
from reasonir.errors import ConfigError


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _messages(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "reasonir.progress"]


def test_log_progress_reports_each_interval_with_rate_and_eta(caplog):
    clock = FakeClock()
    caplog.set_level(logging.INFO, logger="reasonir.progress")
    with LogProgress(total=1000, desc="encoding", unit="doc", interval=30, clock=clock) as bar:
        clock.now += 10
        bar.update(100)                      # 10 s: below the interval, nothing logged
        assert _messages(caplog) == []
        clock.now += 20
        bar.update(200)                      # 30 s, 300 done: 10 doc/s, 700 left -> 70 s
        clock.now += 5
        bar.update(50)                       # only 5 s since the last line
        clock.now += 25
        bar.update(250)                      # 60 s, 600 done
        clock.now += 40
        bar.update(400)
    lines = _messages(caplog)
    assert lines[0] == "encoding: 300/1,000 doc (30%), 10.0 doc/s, elapsed 30s, ETA 1m10s"
    assert lines[1] == "encoding: 600/1,000 doc (60%), 10.0 doc/s, elapsed 1m00s, ETA 40s"
    assert lines[2].startswith("encoding: 1,000/1,000 doc (100%)") and "ETA" not in lines[2]
    assert lines[3] == "encoding: done, 1,000 doc in 1m40s (10.0 doc/s)"
    assert len(lines) == 4


def test_log_progress_short_work_logs_nothing_and_iterates(caplog):
    clock = FakeClock()
    caplog.set_level(logging.INFO, logger="reasonir.progress")
    items = list(LogProgress(["a", "b", "c"], desc="rerank", unit="query", interval=30, clock=clock))
    assert items == ["a", "b", "c"]
    assert _messages(caplog) == []


def test_log_progress_without_total_reports_count(caplog):
    clock = FakeClock()
    caplog.set_level(logging.INFO, logger="reasonir.progress")
    bar = LogProgress(desc="LLM", unit="call", interval=5, clock=clock)
    clock.now += 5
    bar.update(20)
    assert _messages(caplog) == ["LLM: 20 call, 4.0 call/s, elapsed 5s"]


def test_progress_off_a_terminal_is_log_lines(monkeypatch):
    monkeypatch.setattr(_logging, "_stderr_is_terminal", lambda: False)
    set_progress(None)
    monkeypatch.setattr(logging.getLogger("reasonir"), "level", logging.INFO)
    monkeypatch.delenv("REASONIR_PROGRESS", raising=False)
    monkeypatch.setenv("REASONIR_PROGRESS_INTERVAL", "7.5")
    bar = progress(total=10, desc="x")
    assert isinstance(bar, LogProgress) and bar.interval == 7.5
    assert not isinstance(progress(total=10, disable=True), LogProgress)
    monkeypatch.setattr(logging.getLogger("reasonir"), "level", logging.WARNING)
    assert not isinstance(progress(total=10), LogProgress)      # quiet: no progress at all


def test_progress_on_a_terminal_is_a_bar(monkeypatch):
    monkeypatch.setattr(_logging, "_stderr_is_terminal", lambda: True)
    monkeypatch.setattr(logging.getLogger("reasonir"), "level", logging.INFO)
    monkeypatch.delenv("REASONIR_PROGRESS", raising=False)
    set_progress(None)
    bar = progress(total=3, desc="x", file=open(os.devnull, "w"))
    assert not isinstance(bar, LogProgress) and hasattr(bar, "update")
    bar.close()


@pytest.mark.parametrize("raw", ["0", "-3", "soon"])
def test_bad_interval_is_a_config_error(monkeypatch, raw):
    monkeypatch.setenv("REASONIR_PROGRESS_INTERVAL", raw)
    with pytest.raises(ConfigError, match="REASONIR_PROGRESS_INTERVAL"):
        progress_interval()


def test_quiet_silences_already_imported_hf_libraries(monkeypatch):
    hub_utils = pytest.importorskip("huggingface_hub.utils")
    tf_logging = pytest.importorskip("transformers.utils.logging")
    for key in ("HF_HUB_DISABLE_PROGRESS_BARS", "TRANSFORMERS_VERBOSITY", "HF_DATASETS_DISABLE_PROGRESS_BARS",
                "TRANSFORMERS_NO_ADVISORY_WARNINGS", "DATASETS_VERBOSITY"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(logging.getLogger("reasonir"), "level", logging.NOTSET)
    tf_logger = logging.getLogger("transformers")
    monkeypatch.setattr(tf_logger, "level", tf_logger.level)
    hub_utils.enable_progress_bars()
    tf_logging.enable_progress_bar()
    try:
        configure_logging(-1)
        assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"
        assert os.environ["TRANSFORMERS_VERBOSITY"] == "error"
        assert hub_utils.are_progress_bars_disabled()
        assert not tf_logging.is_progress_bar_enabled()
        assert tf_logger.getEffectiveLevel() >= logging.ERROR
    finally:
        hub_utils.enable_progress_bars()
        tf_logging.enable_progress_bar()
        tf_logging.set_verbosity_warning()


def test_configure_logging_twice_adds_one_handler():
    root = logging.getLogger()
    before = list(root.handlers)
    configure_logging(0)
    after_first = list(root.handlers)
    configure_logging(0)
    assert root.handlers == after_first and len(after_first) - len(before) <= 1
    for handler in after_first:
        if handler not in before:
            root.removeHandler(handler)


def _cli(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **env}
    full_env.pop("REASONIR_PROGRESS", None)
    return subprocess.run([str(Path(sys.executable).with_name("reasonir")), *args], cwd=tmp_path, env=full_env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.integration
def test_quiet_encode_with_a_transformers_model_prints_nothing_on_stderr(tmp_path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(f'{{"id": "d{i}", "text": "document number {i}"}}\n' for i in range(3)))
    done = _cli(["-q", "encode", str(corpus), "--out", str(tmp_path / "out"), "--model", "minilm",
                 "--device", "cpu"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_bright_from_the_hub_offline_is_one_line_naming_the_local_copy(tmp_path):
    done = _cli(["retrieve", "--dataset", "bright:biology", "--model", "hash", "--out", str(tmp_path / "r")],
                tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith("reasonir retrieve: error: cannot fetch BRIGHT task 'biology'")
    assert "bright:biology@DIR" in errors[0] and "--data DIR" in errors[0]
    assert len([line for line in done.stderr.splitlines() if line.strip()]) == 1, done.stderr


def test_encoder_by_hub_id_offline_names_a_local_folder(tmp_path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"id": "d1", "text": "one"}\n')
    done = _cli(["encode", str(corpus), "--out", str(tmp_path / "out"), "--model", "someorg/no-such-model",
                 "--device", "cpu"], tmp_path)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("reasonir encode: error: cannot fetch encoder 'someorg/no-such-model'")
    assert "HF_HUB_OFFLINE" in lines[0] and "--model DIR" in lines[0] and "minilm" in lines[0]


def test_load_bright_offline_raises_config_error(monkeypatch):
    pytest.importorskip("datasets")
    from reasonir.data import load_bright

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match=r"bright:biology@DIR"):
        load_bright("biology")


def test_log_progress_counts_updates_from_threads():
    import threading

    bar = LogProgress(total=8000, desc="LLM", unit="call", interval=1e9, clock=FakeClock())
    workers = [threading.Thread(target=lambda: [bar.update(1) for _ in range(1000)]) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert bar.n == 8000
