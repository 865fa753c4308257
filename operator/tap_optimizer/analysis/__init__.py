"""Analysis engine: AWS collectors, pure rules, pricing, and the recommended OptimizationPlan."""
