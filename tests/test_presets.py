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


def _preset_classes() -> dict[str, type]:
    import importlib
    import pkgutil

    import reasonir.workflows

    modules = [f"reasonir.workflows.{m.name}" for m in pkgutil.iter_modules(reasonir.workflows.__path__)]
    modules += ["reasonir.synth.config", "reasonir.train.config"]
    found: dict[str, type] = {}
    for name in modules:
        mod = importlib.import_module(name)
        for obj in vars(mod).values():
            section = getattr(obj, "PRESET_SECTION", None)
            if dataclasses.is_dataclass(obj) and isinstance(obj, type) and section:
                found[section] = obj
    return found


def test_every_paper_preset_file_configures_a_command_with_valid_values():
    import typing
    from importlib import resources

    classes = _preset_classes()
    folder = resources.files("reasonir.prompts.presets") / "paper"
    sections = sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))
    assert sections, "the paper preset has no section files"
    for section in sections:
        assert section in classes, f"paper/{section}.yaml configures no command (no PRESET_SECTION {section!r})"
        cls = classes[section]
        values = config.preset_values(cls, "paper")
        assert values, f"paper/{section}.yaml is empty"
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for name, value in values.items():
            config.check_value(value, hints[name], name, f"paper/{section}.yaml", fields[name].metadata.get("choices"))
