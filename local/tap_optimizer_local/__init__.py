"""Local stand-ins for a cluster and a cloud, for `tap-optimizer demo` and the tests.

None of this runs in production: an API server (kmock, made faithful), a Crossplane stand-in
that reconciles with our own composition function, moto extended where it lacks what real AWS
has, the real Prometheus server and a synthetic service whose SLOs a test or the demo sets.
They are a distribution of their own, tap-optimizer-local (local/pyproject.toml, which brings
kmock and moto): the tap-optimizer package, its wheel and its images hold none of it.
"""
