"""Physical examinations and vaccinations, every read logged (SVC-6)."""
