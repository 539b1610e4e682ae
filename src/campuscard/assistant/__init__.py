"""The 24-hour assistant (SUP-1): answers from the Card Center's knowledge base, always with its source."""
