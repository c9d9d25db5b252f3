"""Settings profiles: defaults < preset < --config file < flags, validation, provenance."""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import ClassVar

import pytest

from reasonir import config
from reasonir.errors import ConfigError
from reasonir.prompts.presets import available_presets, load_preset, preset_digest


@dataclasses.dataclass
class ToyConfig:
    PRESET_SECTION: ClassVar[str] = "toy"
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 512
    preset: str | None = None


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    config.add_arguments(parser, ToyConfig)
    return parser.parse_args(argv)


@pytest.fixture()
def user_preset(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "toy.yaml").write_text("temperature: 0.8  # the published value\ntop_p: 0.8\nmax_tokens: 2048\n")
    return folder


def test_preset_sits_between_defaults_and_the_config_file_and_flags(user_preset, tmp_path):
    assert config.from_args(ToyConfig, _parse([])) == ToyConfig()
    cfg = config.from_args(ToyConfig, _parse(["--preset", str(user_preset)]))
    assert (cfg.temperature, cfg.top_p, cfg.max_tokens) == (0.8, 0.8, 2048)
    file = tmp_path / "cfg.json"
    file.write_text(json.dumps({"preset": str(user_preset), "top_p": 0.5}))
    cfg = config.from_args(ToyConfig, _parse(["--config", str(file), "--max-tokens", "7"]))
    assert (cfg.temperature, cfg.top_p, cfg.max_tokens) == (0.8, 0.5, 7)


def test_unknown_preset_and_foreign_options_are_refused(user_preset):
    with pytest.raises(ConfigError, match=r"unknown preset 'nope'.*paper"):
        config.from_args(ToyConfig, _parse(["--preset", "nope"]))
    (user_preset / "toy.yaml").write_text("temprature: 0.8\n")
    with pytest.raises(ConfigError, match=r"temprature.*not options"):
        config.from_args(ToyConfig, _parse(["--preset", str(user_preset)]))
    (user_preset / "toy.yaml").write_text("- a list\n")
    with pytest.raises(ConfigError, match="maps option names"):
        config.from_args(ToyConfig, _parse(["--preset", str(user_preset)]))
    (user_preset / "toy.yaml").write_text("temperature: hot\n")
    with pytest.raises(ConfigError, match="temperature"):
        config.from_args(ToyConfig, _parse(["--preset", str(user_preset)]))


def test_saved_config_records_the_preset_and_its_hash(user_preset, tmp_path):
    cfg = config.from_args(ToyConfig, _parse(["--preset", str(user_preset)]))
    out = tmp_path / "config.json"
    config.save_config(cfg, out)
    saved = json.loads(out.read_text())
    assert saved["preset"] == str(user_preset)
    assert saved["preset_sha256"] == preset_digest(str(user_preset), "toy") != ""
    assert saved["config"]["temperature"] == 0.8


def test_builtin_paper_preset_is_available():
    assert "paper" in available_presets()
    assert load_preset("paper", "no-such-section") == {}
