"""`tap-optimizer import` refuses what it cannot use before asking AWS anything, naming the flag."""

from __future__ import annotations

import argparse
import pathlib

import pytest

from tap_optimizer import cli
from tap_optimizer.adoption import command
from tap_optimizer.platform.parameters import REFERENCE_PLATFORM


@pytest.mark.parametrize(("args", "named"), [
    (["--tag", "Platform", "--out", "x.yaml"], "--tag Platform: expected KEY=VALUE"),
    (["--stack", "TapStackdev"], "give --out FILE to write the TapPlatform, or --check FILE"),
    (["--stack", "TapStackdev", "--check", "missing.yaml"], "--check missing.yaml: cannot read: No such file"),
    (["--stack", "TapStackdev", "--regions", "us-east", "--out", "x.yaml"], "--regions us-east: not an AWS region"),
    (["--stack", "TapStackdev", "--regions", "us-east-1", "EU-WEST-1", "--out", "x.yaml"], "--regions EU-WEST-1"),
    (["--stack", "TapStackdev", "--name", "Tap_Dev", "--out", "x.yaml"], "--name Tap_Dev: a TapPlatform's name"),
    (["--stack", "TapStackdev", "--name", "tap-platform-for-development", "--out", "x.yaml"],
     "--name tap-platform-for-development"),
    (["--stack", "TapStackdev", "--namespace", "Tap Prod", "--out", "x.yaml"], "--namespace Tap Prod: not a"),
    (["--stack", "TapStackdev", "--out", "missing/x.yaml"], "--out missing/x.yaml: the directory missing does not"),
    (["--stack", "TapStackdev", "--out", "x.yaml", "--report", "missing/r.txt"], "--report missing/r.txt"),
    (["--stack", "TapStackdev", "--check", "tap.yaml", "--out", "x.yaml"], "--out: --check writes nothing"),
])
def test_bad_input_exits_2_naming_the_flag(args, named, capsys, tmp_path: pathlib.Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tap.yaml").write_text(REFERENCE_PLATFORM.read_text())
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens: no call may be made
    assert cli.main(["import", *args]) == 2
    assert named in capsys.readouterr().err


def test_a_name_taken_from_the_stack_starts_with_a_letter():
    assert command._name(argparse.Namespace(name=None, stack="2024-Tap_Stack.dev", tag=None)) == "tap-stack-dev"
