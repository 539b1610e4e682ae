"""Dormitory electricity and laundry (SVC-5)."""
