"""Clinical knowledge: thresholds, drugs, units and plausibility (data + small pure functions)."""
