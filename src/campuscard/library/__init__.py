"""Library loans fed by the library system, due-date reminders (SVC-3)."""
