"""Every default lives in colorizer/config.py; the README's option table repeats them, and agrees."""

import argparse
import importlib
import re

import pytest

from colorizer import config
from colorizer.config import ModelConfig, RunConfig
from conftest import REPO

SCRIPTS = ["cleanup_data.py", "augment_data.py", "train.py", "test.py"]
# What an option whose parser default is None stands for, where no settings class says it.
NONE_MEANS = {"--max-minutes": "none", "--models": config.MODELS_DIR}


def readme_defaults():
    """{(script, option): default as the README's option table gives it}."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    table = text[text.index("| script | option | default |"):].split("\n\n")[0]
    defaults, script = {}, None
    for line in table.splitlines()[2:]:
        _, name, options, default, _ = (cell.strip() for cell in line.split("|", 4))
        script = name.strip("`") or script
        values = re.findall(r"`([^`]*)`", default) or [default]
        for option, value in zip(re.findall(r"`(--[a-z-]+)`", options), values):
            defaults[script, option] = value
    return defaults


def code_default(script, action):
    """The default the code gives an option, as the README writes it."""
    if isinstance(action, argparse._StoreTrueAction):
        return "off"
    if action.default is not None:
        return str(action.default)
    for settings in (ModelConfig(), RunConfig()) if script == "train.py" else ():
        if hasattr(settings, action.dest):  # None: the settings' default, or the checkpoint's
            return str(getattr(settings, action.dest))
    return "random" if (script, action.dest) == ("test.py", "seed") else NONE_MEANS[action.option_strings[0]]


def same(a, b):
    try:
        return float(a) == float(b)
    except ValueError:
        return a == b


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_readme_gives_every_option_its_default_in_the_code(script):
    parser = importlib.import_module(script.removesuffix(".py")).build_parser()
    documented = {option: value for (name, option), value in readme_defaults().items()
                  if name == script}
    options = [a for a in parser._actions if a.option_strings[0] != "-h"]
    assert sorted(a.option_strings[0] for a in options) == sorted(documented)
    for action in options:
        option = action.option_strings[0]
        assert same(documented[option], code_default(script, action)), (script, option)


def test_model_settings_check_themselves_and_fill_in_the_regions():
    assert ModelConfig().z_regions == config.Z_REGIONS > 1
    assert ModelConfig(backbone="none").z_regions == 1
    # A model saved before the regions existed had none, whatever its backbone.
    assert ModelConfig.from_saved({"backbone": "efficientnet-lite0"}).z_regions == 1
    # A retired setting at the value that stayed resumes; a retired variant does not.
    assert ModelConfig.from_saved({"chroma_loss": "squared"}) == ModelConfig.from_saved({})
    for retired in ({"chroma_loss": "classes"}, {"encoder_input": "detail"}):
        with pytest.raises(ValueError):
            ModelConfig.from_saved(retired)
    for wrong in ({"encoder_input": "rgb"}, {"backbone": "resnet"},
                  {"size": 100}, {"latent_dim": 6}, {"backbone": "none", "z_regions": 2}):
        with pytest.raises(ValueError):
            ModelConfig(**wrong)
    with pytest.raises(TypeError):  # a setting the model does not have, as a retired one
        ModelConfig(z_grid=3)


def test_train_has_at_most_16_options():
    import train

    assert len([a for a in train.build_parser()._actions if a.dest != "help"]) <= 16


# Options that say where files go or how long a run is; every other one is a model lever.
RUN_OPTIONS = {"--images", "--models", "--epochs", "--max-minutes", "--batch-size", "--seed",
               "--resume"}


def test_every_model_option_has_its_reason_in_the_quality_docs():
    import train

    text = (REPO / "docs" / "quality.md").read_text(encoding="utf-8")
    reasons = text[text.index("**Why each option exists**"):].split("\n\n")[0]
    levers = {a.option_strings[0] for a in train.build_parser()._actions if a.dest != "help"}
    assert levers - RUN_OPTIONS == set(re.findall(r"`(--[a-z-]+)", reasons))


def test_the_docs_name_files_that_exist():
    for doc in [REPO / "README.md", REPO / "CHANGELOG.md", *(REPO / "docs").glob("*.md")]:
        text = doc.read_text(encoding="utf-8")
        for path in re.findall(r"`((?:colorizer|bench|docs|tests)/[\w/]+\.py)`", text):
            assert (REPO / path).is_file(), (doc.name, path)
