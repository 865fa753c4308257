"""The dashboard: one self-contained HTML page from the analysis document and OptimizationPlans.

Pure: data in, figures and HTML out. The CLI (`report`) and the operator's HTTP server do the I/O.
"""
