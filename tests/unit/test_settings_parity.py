"""One settings schema: the operator's model (builder/settings.py, pydantic) and the droplet's dataclasses
(firstboot/config.py) must name the same fields, require the same ones, offer the same choices and have
the same defaults. The operator side takes its defaults from the droplet side; these tests fail when
either side is changed alone (a field added, a default written out by hand, a choice added)."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from builder.settings import Settings, load_settings, to_deploy
from firstboot.config import Deploy, ReservedIpSpec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# What the builder fills in itself: never in deploy.yaml.
BUILDER_ONLY = {"endpoints", "build", "deploy_id"}
# Written by the operator as one word or address, a ReservedIpSpec on the droplet (to_deploy reshapes it).
RESHAPED = {"reserved_ip"}


def _without_none(annotation: object) -> object:
    """X | None -> X; anything else unchanged."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _sections() -> list[tuple[str, type[BaseModel], type]]:
    """(name, operator model, droplet dataclass) for every nested section of the settings."""
    deploy_hints = typing.get_type_hints(Deploy)
    pairs = []
    for name, info in Settings.model_fields.items():
        model = _without_none(info.annotation)
        if isinstance(model, type) and issubclass(model, BaseModel):
            spec = _without_none(deploy_hints[name])
            assert dataclasses.is_dataclass(spec), f"{name}: a section on the operator side only"
            pairs.append((name, model, spec))
    return pairs


SECTIONS = _sections()


def _plain(value: object) -> object:
    # YAML sequences are lists on the operator side and tuples on the droplet side: the same value.
    return tuple(value) if isinstance(value, list) else value


def test_settings_has_every_section_of_the_deploy_but_what_the_builder_adds() -> None:
    droplet_side = [f.name for f in dataclasses.fields(Deploy) if f.name not in BUILDER_ONLY]
    assert list(Settings.model_fields) == droplet_side
    nested = {f.name for f in dataclasses.fields(Deploy) if dataclasses.is_dataclass(
        _without_none(typing.get_type_hints(Deploy)[f.name]))} - BUILDER_ONLY - RESHAPED
    assert {name for name, _, _ in SECTIONS} == nested


@pytest.mark.parametrize(("name", "model", "spec"), SECTIONS, ids=[s[0] for s in SECTIONS])
def test_each_section_has_the_same_fields_in_the_same_order(name: str, model: type[BaseModel], spec: type) -> None:
    assert list(model.model_fields) == [f.name for f in dataclasses.fields(spec)]


@pytest.mark.parametrize(("name", "model", "spec"), SECTIONS, ids=[s[0] for s in SECTIONS])
def test_each_field_is_required_on_both_sides_or_on_neither(name: str, model: type[BaseModel], spec: type) -> None:
    for f in dataclasses.fields(spec):
        no_default = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        assert model.model_fields[f.name].is_required() == no_default, f"{name}.{f.name}"


@pytest.mark.parametrize(("name", "model", "spec"), SECTIONS, ids=[s[0] for s in SECTIONS])
def test_each_default_is_the_same_on_both_sides(name: str, model: type[BaseModel], spec: type) -> None:
    for f in dataclasses.fields(spec):
        if f.default is not dataclasses.MISSING:
            assert _plain(model.model_fields[f.name].default) == f.default, f"{name}.{f.name}"


@pytest.mark.parametrize(("name", "model", "spec"), SECTIONS, ids=[s[0] for s in SECTIONS])
def test_each_closed_choice_offers_the_same_values(name: str, model: type[BaseModel], spec: type) -> None:
    hints = typing.get_type_hints(spec)
    for f in dataclasses.fields(spec):
        choices = _without_none(hints[f.name])
        if typing.get_origin(choices) is typing.Literal:
            operator = _without_none(model.model_fields[f.name].annotation)
            assert set(typing.get_args(operator)) == set(typing.get_args(choices)), f"{name}.{f.name}"


def test_top_level_defaults_are_the_same_on_both_sides() -> None:
    deploy = Deploy()
    settings = Settings()
    for name in ("project", "ship_version", "dns", "spaces"):
        assert getattr(settings, name) == getattr(deploy, name), name
    assert settings.reserved_ip == ReservedIpSpec().mode


def test_all_defaults_become_the_droplets_defaults() -> None:
    """Nothing set by the operator, nothing in the environment: exactly the droplet's own defaults."""
    assert to_deploy(Settings(), {}) == Deploy()


def test_a_full_settings_file_reaches_the_droplet_field_for_field() -> None:
    settings = load_settings(EXAMPLES / "deploy.digitalocean.yaml")
    deploy = to_deploy(settings, {})
    dumped = settings.model_dump()
    for name, _, _ in SECTIONS:
        section = getattr(deploy, name)
        expected = None if dumped[name] is None else {k: _plain(v) for k, v in dumped[name].items()}
        assert (None if section is None else dataclasses.asdict(section)) == expected, name
    assert (deploy.project, deploy.ship_version) == (settings.project, settings.ship_version)
