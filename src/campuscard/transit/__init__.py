"""City buses: bindings, fares, offline validators, clearing (TRN-1, TRN-2)."""
