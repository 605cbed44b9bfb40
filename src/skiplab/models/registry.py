"""The model registry: every preset is a name bound to (config, builder). Variants are configs, never parsed
from names; `create_model(name, **overrides)` checks each override against the config's fields. Each family module
registers its own presets at its bottom (`register_presets(PRESETS, build)`), so importing `skiplab.models`, which
imports `models.families`, registers them all."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from .. import config as C
from ..errors import ConfigError
from .net import Net


@dataclass(frozen=True)
class ModelSpec:
    name: str
    config: Any
    build: Callable[[Any, str], Net]
    description: str


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(name: str, config: Any, build: Callable[[Any, str], Net], description: str = "") -> None:
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} is already registered")
    _REGISTRY[name] = ModelSpec(name, config, build, description)


def register_presets(presets: Mapping[str, tuple[Any, str]], build: Callable[[Any, str], Net]) -> None:
    """Register a family's presets, {name: (config, description)}, all built by `build`."""
    for name, (config, description) in presets.items():
        register_model(name, config, build, description)


def _spec(name: str) -> ModelSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}{C.suggest(name, list(_REGISTRY))}; "
                          "`skiplab list models` shows them all") from None


def model_config(name: str, **overrides: Any) -> Any:
    """The preset's config with `overrides` applied (unknown keys and bad values raise ConfigError)."""
    spec = _spec(name)
    return C.replace(spec.config, where=f"model {name}", **overrides) if overrides else spec.config


def create_model(name: str, **overrides: Any) -> Net:
    """Build the preset `name`, e.g. `create_model("resnet56", num_classes=10, in_channels=3, h=0.5)`."""
    return build_preset(name, model_config(name, **overrides))


def build_preset(name: str, config: Any) -> Net:
    """Build the preset `name` from `config`, its config already resolved (`model_config(name, ...)`)."""
    return _spec(name).build(config, name)


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def describe_models() -> dict[str, str]:
    return {n: _REGISTRY[n].description for n in sorted(_REGISTRY)}
