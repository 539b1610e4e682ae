from django.contrib.auth.hashers import Argon2PasswordHasher


class FastArgon2PasswordHasher(Argon2PasswordHasher):
    """Real Argon2 with tiny cost, for the test suite only (settings_test)."""

    time_cost = 1
    memory_cost = 256
    parallelism = 1
