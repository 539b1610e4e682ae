"""Desk and seat booking, exam check-in (SVC-1, SVC-2)."""
