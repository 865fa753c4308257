"""Adopting a platform that already runs in AWS: `tap-optimizer import` and its `--check`."""
