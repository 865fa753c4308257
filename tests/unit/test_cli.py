"""`tap-optimizer render` from the user's side: output, exit codes and messages."""

from __future__ import annotations

import pytest
import yaml

from tap_optimizer.cli import COMPOSITION_RESOURCE_NAME, EXIT_BAD_INPUT, EXIT_OK, main
from tap_optimizer.composition.render.platform import render_platform
from tests.support.platforms import EXAMPLES, example


def test_render_prints_every_desired_resource_with_its_composition_name(capsys):
    assert main(["render", str(EXAMPLES / "tap-small.yaml")]) == EXIT_OK
    documents = list(yaml.safe_load_all(capsys.readouterr().out))
    names = [d["metadata"]["annotations"][COMPOSITION_RESOURCE_NAME] for d in documents]
    assert names == list(render_platform(example("tap-small")))


@pytest.mark.parametrize(
    ("content", "wanted"),
    [
        ("kind: Nothing\n", "no TapPlatform in the input"),
        ("a: [\n", "cannot read YAML"),
        ("apiVersion: platform.tap.io/v1\nkind: TapPlatform\nmetadata: {name: x}\n",
         "apiVersion must be platform.tap.io/v1alpha1"),
        ("apiVersion: platform.tap.io/v1alpha1\nkind: TapPlatform\nmetadata: {name: x}\n"
         "spec: {parameters: {database: {readerCount: 40}}}\n",
         "spec.parameters.database.readerCount: 40 is greater than the maximum of 15"),
    ],
    ids=["no TapPlatform in the file", "broken YAML", "wrong version", "a parameter out of range"],
)
def test_bad_input_exits_2_naming_the_problem(tmp_path, capsys, content, wanted):
    path = tmp_path / "xr.yaml"
    path.write_text(content)
    assert main(["render", str(path)]) == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert wanted in captured.err and captured.out == ""


def test_a_missing_file_is_bad_input(tmp_path, capsys):
    assert main(["render", str(tmp_path / "absent.yaml")]) == EXIT_BAD_INPUT
    assert "absent.yaml" in capsys.readouterr().err
