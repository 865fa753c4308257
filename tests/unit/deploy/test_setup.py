"""Set-up's Debian packages (scripts/debian-deps.sh, which `make setup` and `make demo` run): as a
user who is not root it installs nothing and says exactly what to install."""

from __future__ import annotations

import os
import shutil
import subprocess

from tests.support.helm import ROOT

SCRIPT = ROOT / "scripts" / "debian-deps.sh"


def as_a_user(*packages: str) -> subprocess.CompletedProcess:
    """Run the script as an unprivileged user (nobody, when the tests run as root, as in CI)."""
    drop = [] if os.geteuid() != 0 else [shutil.which("setpriv") or "setpriv", "--reuid=65534", "--regid=65534",
                                          "--clear-groups"]
    return subprocess.run([*drop, "bash", str(SCRIPT), *packages], capture_output=True, text=True, check=False,
                          timeout=30, env={"PATH": os.environ["PATH"]})


def test_a_user_is_told_the_exact_command_for_what_is_missing():
    done = as_a_user("bash", "no-such-package-here")
    assert done.returncode == 1
    assert "sudo apt-get install --no-install-recommends no-such-package-here\n" in done.stderr
    assert "bash" not in done.stderr, "what is installed is not asked for"


def test_nothing_to_do_when_every_package_is_there():
    done = as_a_user("bash", "sh")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
