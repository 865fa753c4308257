"""`tap-optimizer import` refuses what it cannot use before asking AWS anything, naming the flag."""

from __future__ import annotations

import pathlib

import pytest

from tap_optimizer import cli


@pytest.mark.parametrize(("args", "named"), [
    (["--tag", "Platform", "--out", "x.yaml"], "--tag Platform: expected KEY=VALUE"),
    (["--stack", "TapStackdev"], "give --out FILE to write the TapPlatform, or --check FILE"),
    (["--stack", "TapStackdev", "--check", "missing.yaml"], "--check missing.yaml: cannot read: No such file"),
])
def test_bad_input_exits_2_naming_the_flag(args, named, capsys, tmp_path: pathlib.Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens: no call may be made
    assert cli.main(["import", *args]) == 2
    assert named in capsys.readouterr().err
