"""Sports and lab equipment rental with deposits and rates (SVC-4)."""
