"""The stand-ins are not shipped (issue 18 part 7): the product wheel, built from exactly what the
Dockerfile builds, holds no stand-in module and requires neither kmock nor moto; the stand-ins are
the separate distribution tap-optimizer-local (local/), and `tap-optimizer demo` without it exits 2
saying what to install."""

from __future__ import annotations

import email.parser
import pathlib
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile

import pytest

import tap_optimizer_local
from tap_optimizer.cli import EXIT_BAD_INPUT
from tests.support.helm import ROOT

TEST_ONLY = {"kmock", "moto"}
STANDINS = ROOT / "local" / "tap_optimizer_local"


def requirement_name(requirement: str) -> str:
    """The normalized project name of a requirement (`moto[server]==5.2.5; extra == "test"` -> moto)."""
    name = re.match(r"[A-Za-z0-9._-]+", requirement.strip())
    assert name, requirement
    return re.sub(r"[-_.]+", "-", name.group(0)).lower()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """The tap-optimizer wheel, built from a copy of the image's build context (.dockerignore: the
    pyproject, the README and operator/), so no build left-over in the clone can leak into it."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "operator", source / "operator",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", str(source), "-w",
                           str(work / "dist")], capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode == 0, done.stderr
    [built] = (work / "dist").glob("tap_optimizer-*.whl")
    with zipfile.ZipFile(built) as opened:
        yield opened


def test_the_product_wheel_holds_no_stand_in(wheel):
    names = wheel.namelist()
    assert "tap_optimizer/cli.py" in names and "tap_optimizer/composition/fn.py" in names  # it is the product
    assert {name.split("/")[0] for name in names} == {"tap_optimizer", "tap_optimizer-0.1.0.dist-info"}
    assert not [name for name in names if name.startswith("tap_optimizer/local/")]
    modules = [name for name in names if name.endswith(".py")]
    standins = {path.name: path.read_bytes() for path in STANDINS.glob("*.py")}
    assert "apiserver.py" in standins and "moto_aws.py" in standins
    copied = [name for name in modules if wheel.read(name) in standins.values()]
    assert not copied, "a stand-in module is in the wheel, under another name"
    importing = [name for name in modules
                 if re.search(r"^\s*(from|import)\s+(kmock|moto|tap_optimizer_local)\b", wheel.read(name).decode(),
                              re.MULTILINE)]
    assert importing == ["tap_optimizer/cli.py"]  # the demo command's lazy import, and only it
    assert "from tap_optimizer_local import demo" in wheel.read("tap_optimizer/cli.py").decode()


def test_the_product_wheel_requires_neither_kmock_nor_moto(wheel):
    metadata = email.parser.Parser().parsestr(wheel.read("tap_optimizer-0.1.0.dist-info/METADATA").decode())
    required = {requirement_name(requirement) for requirement in metadata.get_all("Requires-Dist") or []}
    assert "kopf" in required and "pytest" in required  # the dependencies and the test extra are both listed
    assert not required & TEST_ONLY
    assert "tap-optimizer-local" not in required


def test_the_stand_ins_distribution_holds_the_test_only_pins():
    product = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    local = tomllib.loads((ROOT / "local" / "pyproject.toml").read_text())["project"]
    assert local["name"] == "tap-optimizer-local" and local["version"] == product["version"]
    pins = {requirement_name(requirement): requirement for requirement in local["dependencies"]}
    assert pins["kmock"] == "kmock==0.8" and pins["moto"] == "moto[server]==5.2.5"
    assert pins["tap-optimizer"] == "tap-optimizer"
    everything = product["dependencies"] + [r for extra in product["optional-dependencies"].values() for r in extra]
    assert not {requirement_name(requirement) for requirement in everything} & TEST_ONLY
    shared = {requirement_name(r): r for r in everything if requirement_name(r) in pins}
    assert shared == {name: pins[name] for name in shared}, "a package pinned in both is pinned alike"


def test_demo_without_the_stand_ins_exits_2_naming_what_to_install(tmp_path):
    """The product installed alone: the stand-ins' package cannot be imported (a `sys.modules` block,
    which makes every import of it fail as for a package that is not installed)."""
    script = ("import sys; sys.modules['tap_optimizer_local'] = None\n"
              "from tap_optimizer.cli import main\n"
              f"sys.exit(main(['demo', '--out-dir', {str(tmp_path / 'out')!r}]))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=120,
                          cwd=tmp_path)
    assert done.returncode == EXIT_BAD_INPUT
    assert done.stdout == ""
    assert done.stderr.startswith("error: the demo needs the local stand-ins, which are not installed (")
    assert done.stderr.endswith("install the distribution tap-optimizer-local from a clone of the repository, with "
                                "`pip install -e ./local` at its root (`make setup` installs it)\n")
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_the_stand_ins_are_installed_beside_the_product_here():
    """`make setup` installs both: the tests and `make demo` run on them."""
    assert pathlib.Path(tap_optimizer_local.__file__).resolve().parent == STANDINS
