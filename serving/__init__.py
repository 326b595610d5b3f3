"""BentoML service: predictions plus per-image frequency/robustness diagnostics (see the serving issue)."""
