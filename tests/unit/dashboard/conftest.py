"""The sample dashboard input, built once per session (the plans run the real state machine)."""

from __future__ import annotations

import copy
import json

import pytest

from tests.support import dashboard_samples


@pytest.fixture(scope="session")
def _plans() -> tuple[dict, dict]:
    return dashboard_samples.succeeded_plan(), dashboard_samples.rolled_back_plan()


@pytest.fixture
def succeeded(_plans):
    return copy.deepcopy(_plans[0])


@pytest.fixture
def rolled_back(_plans):
    return copy.deepcopy(_plans[1])


@pytest.fixture
def analysis():
    return dashboard_samples.analysis()


@pytest.fixture
def analysis_file(tmp_path, analysis):
    path = tmp_path / "analysis.json"
    path.write_text(json.dumps(analysis))
    return path
