"""tap-optimizer: right-size a Crossplane-declared AWS platform one reversible phase at a time."""

__version__ = "0.1.0"
