import pytest

from skiplab.errors import ConfigError
from skiplab.models import create_model, list_models, model_config, register_model
from skiplab.models.families.resnet_cifar import ResNetConfig, build_resnet


def test_presets_named_in_the_issue_exist():
    names = set(list_models())
    for depth in (8, 20, 32, 44, 56, 110, 1202):
        assert {f"resnet{depth}", f"plain{depth}"} <= names
    assert {"preresnet110", "preresnet164", "preresnet1001", "vgg11", "vgg16", "resmlp", "resnet1d20"} <= names


def test_typo_gets_the_closest_name():
    with pytest.raises(ConfigError, match="did you mean 'resnet56'"):
        create_model("resnet65")


def test_unknown_override_key_is_refused_with_a_suggestion():
    with pytest.raises(ConfigError, match="did you mean 'width_mult'"):
        create_model("resnet20", width_mul=2)


def test_bad_override_value_is_refused():
    with pytest.raises(ConfigError, match="shortcut"):
        create_model("resnet20", shortcut="C")


def test_duplicates_raise():
    with pytest.raises(ValueError, match="already registered"):
        register_model("resnet20", ResNetConfig(), build_resnet)


def test_overrides_reach_the_config():
    cfg = model_config("resnet20", num_classes=100, h=0.5)
    assert (cfg.num_classes, cfg.h, cfg.depth) == (100, 0.5, 20)
    assert create_model("resnet20", num_classes=100).head[-1].out_features == 100


def test_every_family_registers_its_own_presets_and_nothing_else_is_registered():
    """Each module of models/families registers its PRESETS at import; the families package imports every one of
    them, so the conformance test (which runs on `list_models()`) covers every family."""
    import pkgutil

    from skiplab.models import families

    names = [m.name for m in pkgutil.iter_modules(families.__path__)]
    assert {"resnet_cifar", "vgg", "mlp", "revnet"} <= set(names)
    registered = set()
    for name in names:
        assert name in families.__all__, f"models/families/__init__.py does not import {name}"
        family = getattr(families, name)
        assert family.PRESETS, name
        for preset, (cfg, _) in family.PRESETS.items():
            assert model_config(preset) is cfg
        registered |= set(family.PRESETS)
    assert registered == set(list_models())
