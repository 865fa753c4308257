"""OptimizationPlan: its spec, the one-way doors, and the crash-safe state machine (pure, no I/O)."""
