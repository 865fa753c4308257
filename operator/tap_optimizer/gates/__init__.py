"""SLO gates: pure evaluation of measured values against bounds, and the Prometheus client."""
