"""Django settings. Everything a deployment changes comes from the environment (see README)."""

import logging
import sys
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

from campuscard.core.logs import logging_config
from campuscard.env import (
    ConfigError,
    env_bool,
    env_choices,
    env_float,
    env_int,
    env_keys,
    env_list,
    env_str,
    load_or_create_secret,
)

BASE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BASE_DIR.parent.parent
DATA_DIR = Path(env_str("CAMPUSCARD_DATA_DIR", str(PROJECT_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", "") or load_or_create_secret(DATA_DIR / "secret_key")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "campuscard.backoffice",  # before unfold: its admin/index.html is the dashboard
    "unfold",
    "unfold.contrib.filters",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "health_check",  # the templates of /readyz (core/health.py)
    "django_prometheus",  # request metrics; ours are in core/metrics.py (#18 item 8)
    "django_structlog",
    "huey.contrib.djhuey",
    "ninja",
    "campuscard.core",
    "campuscard.identity",
    "campuscard.ledger",
    "campuscard.devices",
    "campuscard.cards",
    "campuscard.payments",
    "campuscard.access",
    "campuscard.support",
    "campuscard.enrollment",
    "campuscard.transit",
    "campuscard.dorm",
    "campuscard.study",
    "campuscard.library",
    "campuscard.rental",
    "campuscard.health",
    "campuscard.assistant",
    "campuscard.portal",
    "campuscard.terminals",
    "campuscard.api",
    "campuscard.demo",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",  # first and last: times the whole stack
    "campuscard.core.logs.RequestIdMiddleware",  # #18 item 8: X-Request-ID settled, then bound for every line
    "django_structlog.middlewares.RequestMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "campuscard.core.csp.PathPolicyMiddleware",  # #18: Content-Security-Policy by path (core/csp.py)
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "campuscard.api.middleware.ApiErrorShapeMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "campuscard.core.middleware.LanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "campuscard.identity.middleware.ForcePasswordChangeMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "campuscard.urls"
WSGI_APPLICATION = "campuscard.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database: SQLite (WAL, BEGIN IMMEDIATE) by default, PostgreSQL via DATABASE_URL -----------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'campuscard.sqlite3'}")
# Persistent by default ("none"): a thread keeps its connection, and the statements prepared on it, for
# the process's life; Django closes one that failed and is no longer usable. Closed every 60 s, each
# request thread reconnected and prepared the gate batch's statement again in the middle of the rush:
# the full rush's p99 118 ms with it, 28–42 ms without (docs/benchmarks.md, "Access").
_conn_max_age = env_str("DB_CONN_MAX_AGE", "none")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=None if _conn_max_age.lower() == "none"
                                              else env_int("DB_CONN_MAX_AGE", 60))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # IMMEDIATE takes the write lock at BEGIN, so two writers queue instead of deadlocking.
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
    }
# A streaming standby for reads that may lag — reports, statements, charts (core/dbrouter.py, #18 item 2);
# money always reads and writes the primary. Empty: everything on DATABASE_URL.
DATABASE_REPLICA_URL = env_str("DATABASE_REPLICA_URL", "")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = dj_database_url.parse(DATABASE_REPLICA_URL,
                                                 conn_max_age=DATABASES["default"]["CONN_MAX_AGE"])
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["campuscard.core.dbrouter.ReplicaRouter"]
# Behind a transaction-pooling PgBouncer (DATABASE_POOLER=pgbouncer, #18 item 3; docs/operations.md): a
# server connection is ours for one transaction only, so nothing may outlive one — no server-side cursor
# (iterator() declares one outside a transaction) and no prepared statement (PG_PREPARE below is off).
DATABASE_POOLER = env_str("DATABASE_POOLER", "").lower()
if DATABASE_POOLER not in {"", "none", "pgbouncer"}:
    raise ConfigError(f"environment variable DATABASE_POOLER={DATABASE_POOLER!r} is not one of pgbouncer, none")
DATABASE_POOLER = "" if DATABASE_POOLER == "none" else DATABASE_POOLER
if DATABASE_POOLER:
    if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise ConfigError("DATABASE_POOLER=pgbouncer needs a PostgreSQL DATABASE_URL (the pooler's address)")
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "identity.User"
AUTHENTICATION_BACKENDS = ["campuscard.identity.backends.InstitutionNumberBackend"]
LOGIN_URL = "portal:login"
LOGIN_REDIRECT_URL = "portal:home"

# Single sign-on, "统一身份认证" (ID-4): OpenID Connect, off unless SSO_CLIENT_ID is set; the login page
# shows its button only then (docs/operations.md, "Single sign-on"). The provider's SSO_NUMBER_CLAIM is
# the roster's number in SSO_INSTITUTIONS (one, or the one SSO_INSTITUTION_CLAIM names).
SSO_CLIENT_ID = env_str("SSO_CLIENT_ID", "")
SSO_ENABLED = bool(SSO_CLIENT_ID)
SSO_INSTITUTIONS = env_list("SSO_INSTITUTIONS", [])
SSO_INSTITUTION_CLAIM = env_str("SSO_INSTITUTION_CLAIM", "")
SSO_NUMBER_CLAIM = env_str("SSO_NUMBER_CLAIM", "sub")
# The back office's button (#16 item 2): this claim is an operator account's username ("" = SSO_NUMBER_CLAIM).
SSO_OPERATOR_CLAIM = env_str("SSO_OPERATOR_CLAIM", "")
SSO_ISSUER = env_str("SSO_ISSUER", "")  # when set, the ID token's iss must be exactly this
# mozilla-django-oidc reads these names.
OIDC_RP_CLIENT_ID = SSO_CLIENT_ID
OIDC_RP_CLIENT_SECRET = env_str("SSO_CLIENT_SECRET", "")
OIDC_OP_AUTHORIZATION_ENDPOINT = env_str("SSO_AUTHORIZATION_ENDPOINT", "")
OIDC_OP_TOKEN_ENDPOINT = env_str("SSO_TOKEN_ENDPOINT", "")
OIDC_OP_USER_ENDPOINT = env_str("SSO_USERINFO_ENDPOINT", "")  # optional: claims from the ID token alone
OIDC_OP_JWKS_ENDPOINT = env_str("SSO_JWKS_ENDPOINT", "") or None
OIDC_RP_SIGN_ALGO = env_str("SSO_SIGN_ALGO", "RS256")
OIDC_RP_SCOPES = env_str("SSO_SCOPES", "openid profile")
OIDC_USE_PKCE = env_bool("SSO_USE_PKCE", True)
OIDC_TIMEOUT = env_int("SSO_TIMEOUT_SECONDS", 10)
OIDC_AUTHENTICATION_CALLBACK_URL = "portal:sso_callback"
if SSO_ENABLED:
    _sso_missing = [name for name, value in [
        ("SSO_CLIENT_SECRET", OIDC_RP_CLIENT_SECRET), ("SSO_AUTHORIZATION_ENDPOINT", OIDC_OP_AUTHORIZATION_ENDPOINT),
        ("SSO_TOKEN_ENDPOINT", OIDC_OP_TOKEN_ENDPOINT), ("SSO_INSTITUTIONS", SSO_INSTITUTIONS),
        ("SSO_JWKS_ENDPOINT", OIDC_OP_JWKS_ENDPOINT or not OIDC_RP_SIGN_ALGO.startswith(("RS", "ES")))] if not value]
    if _sso_missing:
        raise ConfigError(f"SSO_CLIENT_ID is set, so single sign-on also needs {', '.join(_sso_missing)}")
    if len(SSO_INSTITUTIONS) > 1 and not SSO_INSTITUTION_CLAIM:
        raise ConfigError("SSO_INSTITUTIONS names several institutions: set SSO_INSTITUTION_CLAIM to tell them apart")
    AUTHENTICATION_BACKENDS = [*AUTHENTICATION_BACKENDS, "campuscard.identity.sso.RosterOIDCBackend"]

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- cache (login throttling, hot lookups): Redis when REDIS_URL is set, else the database ----
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "campuscard_cache"}}

# --- background jobs: Huey (SQLite file by default, Redis in production) -----------------------
HUEY_IMMEDIATE = env_bool("HUEY_IMMEDIATE", False)
if REDIS_URL:
    HUEY = {"huey_class": "huey.RedisHuey", "name": "campuscard", "url": REDIS_URL, "immediate": HUEY_IMMEDIATE}
else:
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": "campuscard",
        "filename": str(DATA_DIR / "huey.sqlite3"),
        "immediate": HUEY_IMMEDIATE,
    }
HUEY["consumer"] = {"workers": env_int("HUEY_WORKERS", 2), "worker_type": "thread"}

# --- i18n: Chinese by default, English complete (ARCHITECTURE rule 9) ---------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale", BASE_DIR / "locale_vendor"]  # ours first; then the admin theme's words
USE_I18N = True
TIME_ZONE = env_str("TIME_ZONE", "Asia/Shanghai")
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(DATA_DIR / "static")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(DATA_DIR / "media")))
MEDIA_URL = "/media/"

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "campuscard@localhost")

SESSION_COOKIE_HTTPONLY = True
# Behind HTTPS (#18 item 6): every cookie Secure, and browsers told to come back over HTTPS only.
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = LANGUAGE_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env_int("HSTS_SECONDS", 365 * 86400) if SESSION_COOKIE_SECURE else 0

# --- CampusCard knobs ----------------------------------------------------------------------------
# Login throttling (issue 2): this many wrong passwords per account within the window lock it.
LOGIN_MAX_FAILURES = env_int("LOGIN_MAX_FAILURES", 5)
LOGIN_LOCK_SECONDS = env_int("LOGIN_LOCK_SECONDS", 15 * 60)
LOGIN_ACCOUNT_MAX_FAILURES = env_int("LOGIN_ACCOUNT_MAX_FAILURES", 20)  # from any address (#18 item 9)
LOGIN_ADDRESS_MAX_FAILURES = env_int("LOGIN_ADDRESS_MAX_FAILURES", 20)  # over all accounts, per window below
LOGIN_ADDRESS_WINDOW_SECONDS = env_int("LOGIN_ADDRESS_WINDOW_SECONDS", 5 * 60)
# Reverse proxies whose X-Forwarded-For is believed (addresses or CIDR networks); empty: REMOTE_ADDR only.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", [])
# Behind such a proxy terminating TLS (deploy/nginx), its X-Forwarded-Proto says whether the client used
# HTTPS: without it, Django behind the proxy sees plain HTTP and never sends HSTS (#18 item 8).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXIES else None
ROSTER_MAX_ERRORS_SHOWN = env_int("ROSTER_MAX_ERRORS_SHOWN", 1000)  # validation stops there, too
ROSTER_MAX_BYTES = env_int("ROSTER_MAX_BYTES", 32 * 2**20)
# Outside channels (ID-6): wrong query passwords per ID number and per client address within the window
# block binding for the rest of it, before anything is checked.
CHANNEL_BIND_MAX_WRONG_PER_ID = env_int("CHANNEL_BIND_MAX_WRONG_PER_ID", 5)
CHANNEL_BIND_MAX_WRONG_PER_ADDRESS = env_int("CHANNEL_BIND_MAX_WRONG_PER_ADDRESS", 20)
CHANNEL_BIND_LOCK_SECONDS = env_int("CHANNEL_BIND_LOCK_SECONDS", 15 * 60)

NINJA_PAGINATION_PER_PAGE = 50
NINJA_PAGINATION_CLASS = "campuscard.api.pagination.Pagination"

# Where this deployment is reachable (gateway callbacks, links in e-mails).
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

# Recharge (TOP-1). Amounts in fen.
RECHARGE_MIN_FEN = env_int("RECHARGE_MIN_FEN", 100)
RECHARGE_MAX_FEN = env_int("RECHARGE_MAX_FEN", 200_000)
RECHARGE_ONLINE_TTL_SECONDS = env_int("RECHARGE_ONLINE_TTL_SECONDS", 30 * 60)
# The sandbox gateway signs its notifications with this secret; "http" delivers them to SITE_URL
# like a real gateway, "inprocess" hands them straight to the receiving service (tests).
GATEWAY_SANDBOX_SECRET = env_str("GATEWAY_SANDBOX_SECRET", "") or f"sandbox:{SECRET_KEY}"
GATEWAY_SANDBOX_DELIVERY = env_str("GATEWAY_SANDBOX_DELIVERY", "http")

# Cards (CARD-3, CARD-5, CARD-6, APP-5).
QR_STEP_SECONDS = env_int("QR_STEP_SECONDS", 30)  # the code refreshes this often
QR_VALID_SECONDS = env_int("QR_VALID_SECONDS", 60)  # and is accepted this long (once)
OFFLINE_CODES_BATCH = env_int("OFFLINE_CODES_BATCH", 15)
# PAY-2 / PAY-3 / PAY-4.
DAILY_LIMIT_DEFAULT_FEN = env_int("DAILY_LIMIT_DEFAULT_FEN", 20_000)
DAILY_LIMIT_MAX_FEN = env_int("DAILY_LIMIT_MAX_FEN", 100_000)
# Payments up to this amount need no payment password; offline codes are limited to it.
PASSWORD_FREE_LIMIT_FEN = env_int("PASSWORD_FREE_LIMIT_FEN", 5000)
PAYMENT_PASSWORD_MAX_WRONG = env_int("PAYMENT_PASSWORD_MAX_WRONG", 5)
PAYMENT_PASSWORD_MAX_AGE_DAYS = env_int("PAYMENT_PASSWORD_MAX_AGE_DAYS", 30)
APPEAL_WINDOW_HOURS = env_int("APPEAL_WINDOW_HOURS", 72)
# SUP-4 alerts: the low-balance threshold a holder starts with and the most they may set (payments
# below the maximum enqueue a check for the worker), and how long a login device stays "seen".
LOW_BALANCE_THRESHOLD_DEFAULT_FEN = env_int("LOW_BALANCE_THRESHOLD_DEFAULT_FEN", 2000)
LOW_BALANCE_THRESHOLD_MAX_FEN = env_int("LOW_BALANCE_THRESHOLD_MAX_FEN", 20_000)
NEW_DEVICE_DAYS = env_int("NEW_DEVICE_DAYS", 90)
MERCHANT_ACCOUNT_STRIPES = env_int("MERCHANT_ACCOUNT_STRIPES", 16)  # hot takings accounts (see the ledger)
OFFLINE_CODES_TTL_SECONDS = env_int("OFFLINE_CODES_TTL_SECONDS", 24 * 3600)
CARD_PRODUCTION_WORKING_DAYS = env_int("CARD_PRODUCTION_WORKING_DAYS", 3)
BALANCE_MOVE_AFTER_SECONDS = env_int("BALANCE_MOVE_AFTER_SECONDS", 48 * 3600)
# CARD-6: kept back on a replaced card while offline devices (bus validators) may still charge it: one fare
REPLACEMENT_RESERVE_FEN = env_int("REPLACEMENT_RESERVE_FEN", 200)
CARD_REPLACEMENT_FEE_FEN = {
    "student": env_int("CARD_REPLACEMENT_FEE_STUDENT_FEN", 2000),
    "temporary": env_int("CARD_REPLACEMENT_FEE_TEMPORARY_FEN", 2000),
    "staff": env_int("CARD_REPLACEMENT_FEE_STAFF_FEN", 0),
    "visitor": env_int("CARD_REPLACEMENT_FEE_VISITOR_FEN", 2000),
    "alumni": env_int("CARD_REPLACEMENT_FEE_ALUMNI_FEN", 2000),
}

# Access control (ACC-1 … ACC-5).
ACCESS_DORM_NIGHT = tuple(env_list("ACCESS_DORM_NIGHT", ["23:00", "06:00"]))  # residents only, across midnight
ACCESS_DORM_DAY_POLICY = env_str("ACCESS_DORM_DAY_POLICY", "students")  # who may enter a dorm by day
VISITOR_PASS_MAX_AHEAD_HOURS = env_int("VISITOR_PASS_MAX_AHEAD_HOURS", 6)
VISITOR_PASS_MAX_DURATION_HOURS = env_int("VISITOR_PASS_MAX_DURATION_HOURS", 24)
VISITOR_INVITE_MAX_HOURS = env_int("VISITOR_INVITE_MAX_HOURS", 168)  # how long an invitation link may work
ACCESS_SNAPSHOT_TTL_HOURS = env_int("ACCESS_SNAPSHOT_TTL_HOURS", 12)  # offline gates' snapshot lifetime
# What an offline gate does past its snapshot's expiry, per zone level, over the defaults in access.offline
# (laboratory=refuse, dormitory=residents, the rest last_known), e.g. "teaching=refuse,library=refuse".
ACCESS_OFFLINE_EXPIRED_POLICY = env_choices(
    "ACCESS_OFFLINE_EXPIRED_POLICY", {"campus_gate", "teaching", "dormitory", "laboratory", "library", "other"},
    {"refuse", "residents", "last_known"})
ACCESS_ZONE_CACHE_SECONDS = env_int("ACCESS_ZONE_CACHE_SECONDS", 30)
ACCESS_GATE_FAST_PATH = env_bool("ACCESS_GATE_FAST_PATH", True)  # batched, group-committed decisions
PAYMENTS_FAST_PATH = env_bool("PAYMENTS_FAST_PATH", True)  # one-statement POS payments on PostgreSQL
ACCESS_GATE_BATCH_MAX = env_int("ACCESS_GATE_BATCH_MAX", 256)
ACCESS_GATE_BATCHES_IN_FLIGHT = env_int("ACCESS_GATE_BATCHES_IN_FLIGHT", 1)  # per process
ACCESS_GATE_WAIT_SECONDS = env_int("ACCESS_GATE_WAIT_SECONDS", 10)
# Prepared ledger statement per connection; off behind a transaction-pooling PgBouncer (DATABASE_POOLER).
PG_PREPARE = env_bool("PG_PREPARE", not DATABASE_POOLER)
if PG_PREPARE and DATABASE_POOLER:
    raise ConfigError("PG_PREPARE=true cannot work behind DATABASE_POOLER=pgbouncer (transaction pooling): "
                      "a statement prepared in one transaction is gone in the next")

# Study services and library loans (SVC-1 … SVC-3).
SEAT_GRACE_MINUTES = env_int("SEAT_GRACE_MINUTES", 15)  # a booking not taken up by then is released
SEAT_BOOK_AHEAD_DAYS = env_int("SEAT_BOOK_AHEAD_DAYS", 7)
SEAT_MAX_HOURS = env_int("SEAT_MAX_HOURS", 4)  # longest booked slot
SEAT_WALK_IN_MINUTES = env_int("SEAT_WALK_IN_MINUTES", 120)  # a scanned free seat is held this long
EXAM_CHECKIN_OPENS_MINUTES = env_int("EXAM_CHECKIN_OPENS_MINUTES", 60)  # before the exam starts
EXAM_CODE_VALID_SECONDS = env_int("EXAM_CODE_VALID_SECONDS", 120)  # the portal's identify-only code
LIBRARY_REMINDER_DAYS = env_int("LIBRARY_REMINDER_DAYS", 3)  # before the due date
# Dorm electricity and laundry (SVC-5).
DORM_LOW_BALANCE_KWH = env_int("DORM_LOW_BALANCE_KWH", 5)  # a room's default low-balance alert threshold
DORM_TOPUP_MIN_FEN = env_int("DORM_TOPUP_MIN_FEN", 100)  # ¥1 … ¥500 a top-up
DORM_TOPUP_MAX_FEN = env_int("DORM_TOPUP_MAX_FEN", 50_000)
LAUNDRY_CANCEL_MINUTES = env_int("LAUNDRY_CANCEL_MINUTES", 30)  # cancel with a full refund until this long before
LAUNDRY_GRACE_MINUTES = env_int("LAUNDRY_GRACE_MINUTES", 10)  # a booking not started by then is a no-show
LAUNDRY_BOOK_AHEAD_DAYS = env_int("LAUNDRY_BOOK_AHEAD_DAYS", 2)

# Device requests: signed timestamp must be within this many seconds of the server clock.
DEVICE_REQUEST_WINDOW_SECONDS = env_int("DEVICE_REQUEST_WINDOW_SECONDS", 300)

# Card applications (APP-1 … APP-5): the SMS code, its limits, uploaded documents.
SMS_PROVIDER = env_str("SMS_PROVIDER", "console")  # console (log only) | http (enrollment.sms.HttpProvider)
if SMS_PROVIDER not in {"console", "http"}:
    raise ConfigError(f"environment variable SMS_PROVIDER={SMS_PROVIDER!r} is not one of console, http")
SMS_HTTP_URL = env_str("SMS_HTTP_URL", "")  # the gateway's send endpoint (JSON POST)
SMS_HTTP_TOKEN = env_str("SMS_HTTP_TOKEN", "")  # sent as "Authorization: Bearer …"
SMS_HTTP_SIGN = env_str("SMS_HTTP_SIGN", "CampusCard")  # the registered SMS signature (短信签名)
SMS_HTTP_TIMEOUT_SECONDS = env_int("SMS_HTTP_TIMEOUT_SECONDS", 5)
SMS_CODE_TTL_SECONDS = env_int("SMS_CODE_TTL_SECONDS", 5 * 60)  # a code works this long
SMS_CODE_MAX_WRONG = env_int("SMS_CODE_MAX_WRONG", 5)  # wrong guesses before a code is dead
SMS_RESEND_SECONDS = env_int("SMS_RESEND_SECONDS", 60)  # one code per number (and per address) this often
SMS_MAX_PER_HOUR = env_int("SMS_MAX_PER_HOUR", 5)  # codes per number an hour
SMS_ADDRESS_MAX_PER_HOUR = env_int("SMS_ADDRESS_MAX_PER_HOUR", 100)  # codes per client address an hour (NAT!)
SMS_ADDRESS_MAX_WRONG = env_int("SMS_ADDRESS_MAX_WRONG", 30)  # wrong codes per client address an hour
APPLICATION_DOCUMENT_MAX_BYTES = env_int("APPLICATION_DOCUMENT_MAX_BYTES", 5 * 1024 * 1024)

# Key of the ledger's row MACs and day seals (tamper evidence). Keep it stable: rotating it makes
# `campuscard ledger verify` report every older row. Defaults to one derived from SECRET_KEY.
LEDGER_MAC_KEY = env_str("LEDGER_MAC_KEY", "") or f"derived:{SECRET_KEY}"

# Personal data at rest (#18 item 7, core/crypto.py): ID and phone numbers, health records and biometric
# data are encrypted under keys derived (HKDF) from PII_KEYS — comma-separated, the first encrypts, all
# decrypt (`campuscard pii rotate`; docs/operations.md) — and ID/phone look-ups go through an HMAC blind
# index under PII_INDEX_KEY (a separate key; several: the first writes, all are looked up). In production
# both are required; only a development, demo, test or benchmark machine (DEBUG, or running on the SECRET_KEY
# generated into the data directory) derives them from SECRET_KEY. PRODUCTION=true/false says it outright.
PRODUCTION = env_bool("PRODUCTION", not DEBUG and bool(env_str("SECRET_KEY", "")))
PII_KEYS = env_keys("PII_KEYS", dev_default=None if PRODUCTION else f"derived:{SECRET_KEY}",
                    alias="BIOMETRIC_KEY")  # BIOMETRIC_KEY: its name before #18, still read
PII_INDEX_KEYS = env_keys("PII_INDEX_KEY", dev_default=None if PRODUCTION else f"index:{SECRET_KEY}")
# Face checks (APP-3) and the face terminals' feed (ID-7); their data is encrypted like the rest (above).
FACE_MATCH_THRESHOLD = env_float("FACE_MATCH_THRESHOLD", 0.6)  # embedding distance: at or below, one person
FACE_EAR_CLOSED = env_float("FACE_EAR_CLOSED", 0.7)  # eyes closed below this share of their open EAR
FACE_EAR_OPEN = env_float("FACE_EAR_OPEN", 0.85)  # and open again at or above this share
FACE_NOD_CHANGE = env_float("FACE_NOD_CHANGE", 0.06)  # a nod moves the pitch ratio by this share
FACE_STILL_DIFF = env_float("FACE_STILL_DIFF", 1.5)  # grey levels under which a sequence is one still image
FACE_ATTEMPT_SECONDS = env_int("FACE_ATTEMPT_SECONDS", 120)  # an attempt's frames must arrive within this
FACE_ATTEMPTS_MAX = env_int("FACE_ATTEMPTS_MAX", 5)  # attempts per application

UNFOLD = {
    "SITE_TITLE": _("CampusCard back office"),
    "SITE_HEADER": _("CampusCard 一卡通"),
    "SITE_SYMBOL": "badge",
    "SHOW_LANGUAGES": True,
    "SHOW_HISTORY": True,
    "DASHBOARD_CALLBACK": "campuscard.backoffice.dashboard.dashboard_callback",
}

# Logs (#18 item 8): JSON lines (LOG_FORMAT=json) where nobody reads a terminal — under a supervisor, in
# production — and readable lines on a terminal (or with DEBUG); each with the request id (core/logs.py).
LOG_FORMAT = env_str("LOG_FORMAT", "console" if DEBUG or sys.stderr.isatty() else "json")
if LOG_FORMAT not in {"json", "console"}:
    raise ConfigError(f"environment variable LOG_FORMAT={LOG_FORMAT!r} is not one of json, console")
LOGGING = logging_config(log_format=LOG_FORMAT, level=env_str("LOG_LEVEL", "INFO"))
DJANGO_STRUCTLOG_TRUST_UPSTREAM_REQUEST_ID = True  # RequestIdMiddleware has checked or replaced it
DJANGO_STRUCTLOG_IP_LOGGING_ENABLED = False  # ipware believes any X-Forwarded-For; the proxy logs addresses
DJANGO_STRUCTLOG_STATUS_START_LOG_LEVEL = logging.DEBUG  # one line a request (request_finished), not two

# Metrics (#18 item 8): /metrics answers a direct connection from these networks, or a bearer token from
# anywhere (a proxied request needs the token); PROMETHEUS_MULTIPROC_DIR sums several processes (core/metrics.py).
METRICS_ALLOWED_NETWORKS = env_list("METRICS_ALLOWED_NETWORKS", ["127.0.0.1/32", "::1/128"])
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
