"""Pitboss settings: everything comes from the environment, with working defaults.

`PITBOSS_ENV` is `production` unless set: a production process refuses to start without
`SECRET_KEY` and `PITBOSS_ENCRYPTION_KEY` and never runs with DEBUG on by default. `make run` and
`make test` set `PITBOSS_ENV=development`, where safe local defaults apply. The README lists every
variable.
"""

import base64
import hashlib
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from config.env import database_from_url, env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("PITBOSS_DATA_DIR", str(BASE_DIR / ".data")))

PITBOSS_ENV = env_str("PITBOSS_ENV", "production")
if PITBOSS_ENV not in {"production", "development"}:
    raise ImproperlyConfigured("PITBOSS_ENV must be 'production' or 'development'")
DEVELOPMENT = PITBOSS_ENV == "development"

_DEV_SECRET_KEY = "development-only-insecure-key-never-use-in-production"
SECRET_KEY = env_str("SECRET_KEY") or (_DEV_SECRET_KEY if DEVELOPMENT else None)
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. Set it (and PITBOSS_ENCRYPTION_KEY) in production; "
        "for local work export PITBOSS_ENV=development, as `make run` and `make test` do."
    )
if not DEVELOPMENT and SECRET_KEY == _DEV_SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY is the development key; set a real one")

DEBUG = env_bool("DEBUG", DEVELOPMENT)
ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEVELOPMENT else []
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Provider secrets are encrypted at rest with this key (Fernet: 32 url-safe base64 bytes), so a
# database dump alone does not reveal them. Development derives one from the development key.
_encryption_key = env_str("PITBOSS_ENCRYPTION_KEY")
if not _encryption_key:
    if not DEVELOPMENT:
        raise ImproperlyConfigured(
            "PITBOSS_ENCRYPTION_KEY is not set: generate one with "
            "`python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'`"
        )
    _encryption_key = base64.urlsafe_b64encode(
        hashlib.sha256(b"pitboss-dev-encryption:" + SECRET_KEY.encode()).digest()
    ).decode()
PITBOSS_ENCRYPTION_KEYS = [k for k in _encryption_key.split(",") if k]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "wallets",
    "monitoring",
    "reconciliation",
    "fraud",
    "compliance",
    "protection",
    "reports",
    "simulator",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves the admin's and the dashboard's static files from STATIC_ROOT (no CDN, no nginx
    # needed); `collectstatic` fills it (make run does).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "wallets.middleware.RequestIdMiddleware",
    # Back-office reads from the replica when one is configured (config/replica.py).
    "config.replica.ReplicaReadsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "wallets.middleware.AdminRefusalMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "config.replica.read_source",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL", "postgresql://pitboss@127.0.0.1:5432/pitboss")
DATABASES = {"default": database_from_url(DATABASE_URL)}
DATABASES["default"]["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", "5")
# Lets psycopg prepare statements at all (Django's default, None, turns that off). Django's own
# queries bind on the client and are never prepared either way; the wallet API's hot statements
# (wallets.db) ask to be.
DATABASES["default"]["OPTIONS"].setdefault("prepare_threshold", 5)
# The longest one statement may run, in ms (0: no limit). The web server sets 30 s unless told
# otherwise (config/server.py): no request holds a thread on a runaway query. Celery jobs and
# management commands run without a limit.
DB_STATEMENT_TIMEOUT_MS = env_int("DB_STATEMENT_TIMEOUT_MS", 0)
_options = DATABASES["default"]["OPTIONS"]
_server_settings = []
if DB_STATEMENT_TIMEOUT_MS > 0:
    _server_settings.append(f"statement_timeout={DB_STATEMENT_TIMEOUT_MS}")
# A dead peer (a database host that lost power, a partition) must not hold a worker thread for
# the kernel's two hours: TCP keepalives probe an idle connection after DB_KEEPALIVES_IDLE s,
# every DB_KEEPALIVES_INTERVAL s, and give up after DB_KEEPALIVES_COUNT unanswered probes;
# DB_TCP_USER_TIMEOUT_MS bounds how long sent data may stay unacknowledged. Set on both ends:
# libpq's socket (this process notices a dead server) and the server's (the server notices a
# dead client and ends its transaction, releasing its row locks). Parameters in DATABASE_URL's
# query string win; DB_KEEPALIVES=0 leaves libpq's and the kernel's defaults (probes after two
# hours idle, no user timeout). Unix sockets ignore all of it.
DB_KEEPALIVES = env_bool("DB_KEEPALIVES", True)
if DB_KEEPALIVES:
    _keepalives = {
        "keepalives_idle": env_int("DB_KEEPALIVES_IDLE", 30),
        "keepalives_interval": env_int("DB_KEEPALIVES_INTERVAL", 10),
        "keepalives_count": env_int("DB_KEEPALIVES_COUNT", 3),
        "tcp_user_timeout": env_int("DB_TCP_USER_TIMEOUT_MS", 30_000),
    }
    _options.setdefault("keepalives", "1")
    for _name, _value in _keepalives.items():
        _options.setdefault(_name, str(_value))
        _server_name = _name.replace("keepalives_", "tcp_keepalives_")
        _server_settings.append(f"{_server_name}={_options[_name]}")
# PostgreSQL's JIT compiles a statement whose estimated cost passes a threshold, and estimates
# grow with the tables: on a 50,000,000-row ledger, index-driven statements that run in
# milliseconds (a reconciliation chunk, a day's roll-up, list pages) paid 0.5-1.5 s of LLVM
# compilation each, so their cost grew with the history instead of the work. Off for this
# application's sessions; DB_JIT=server leaves the server's own setting (behind PgBouncer,
# which refuses startup options by default, use that and `ALTER DATABASE ... SET jit = off`).
DB_JIT = env_str("DB_JIT", "off")
if DB_JIT not in ("off", "server"):
    raise ImproperlyConfigured(f"DB_JIT must be 'off' or 'server', not {DB_JIT!r}")
if DB_JIT == "off":
    _server_settings.append("jit=off")
if _server_settings:
    _startup = " ".join(f"-c {setting}" for setting in _server_settings)
    _options["options"] = f"{_options.get('options', '')} {_startup}".strip()

# Back-office reads from a streaming replica (config/replica.py): admin pages and the API's
# list and export endpoints, GET only, while the replica is at most REPLICA_MAX_LAG_SECONDS
# behind (measured every REPLICA_CHECK_SECONDS per process); money paths, writes, jobs and
# authentication always read the primary. REPLICA_READS=0 keeps every read on the primary.
DATABASE_REPLICA_URL = env_str("DATABASE_REPLICA_URL", "")
REPLICA_READS = env_bool("REPLICA_READS", bool(DATABASE_REPLICA_URL))
REPLICA_MAX_LAG_SECONDS = env_float("REPLICA_MAX_LAG_SECONDS", 5.0)
REPLICA_CHECK_SECONDS = env_float("REPLICA_CHECK_SECONDS", 1.0)
REPLICA_PIN_SECONDS = env_int("REPLICA_PIN_SECONDS", 15)
REPLICA_READ_PATHS = env_list(
    "REPLICA_READ_PATHS",
    [
        r"^/admin/(?!login/|logout/|password_change/)",
        r"^/api/v1/(?:transactions|audit|alerts|discrepancies|holds|sessions"
        r"|compliance/violations|reconciliation/runs|reconciliation/report-rows)/(?:export\.csv)?$",
        r"^/api/v1/reports/",
    ],
)
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = {
        **database_from_url(DATABASE_REPLICA_URL),
        # A streaming replica holds the primary's databases: it reads the one DATABASE_URL
        # names (a benchmark's or a test's database included).
        "NAME": DATABASES["default"]["NAME"],
        "CONN_MAX_AGE": DATABASES["default"]["CONN_MAX_AGE"],
        "CONN_HEALTH_CHECKS": True,
        # The test database is made on the primary and reaches the replica by replication.
        "TEST": {"MIRROR": "default"},
    }
    _replica_options = DATABASES["replica"]["OPTIONS"]
    for _name, _value in _options.items():
        _replica_options.setdefault(_name, _value)
    DATABASE_ROUTERS = ["config.replica.ReplicaRouter"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Player protection: how long a limit increase or removal waits where no cooling-off period is
# set for the player's country (admin: Player protection -> Cooling-off periods).
PITBOSS_LIMIT_COOLING_OFF_HOURS = env_int("PITBOSS_LIMIT_COOLING_OFF_HOURS", 24)

# The ledger (docs/scaling.md, "Time partitions"): providers retry a call for up to a day and
# resolve pending transactions after 30; a transaction id is remembered as an idempotency key
# for this many days (never less than 30), then pruned. Partitions are created this many months
# ahead; fewer than two future months is an error the partition job logs and reports.
PITBOSS_RETRY_HORIZON_DAYS = max(30, env_int("PITBOSS_RETRY_HORIZON_DAYS", 30))
PITBOSS_LEDGER_PARTITIONS_AHEAD = max(2, env_int("PITBOSS_LEDGER_PARTITIONS_AHEAD", 3))
# Where `manage.py ledger_partitions archive` writes a detached partition's export.
PITBOSS_LEDGER_ARCHIVE_DIR = Path(
    env_str("PITBOSS_LEDGER_ARCHIVE_DIR", str(DATA_DIR / "ledger-archive"))
)

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
USE_I18N = True
USE_TZ = True
# Stored times are UTC; TIME_ZONE is what the admin shows operators.
TIME_ZONE = env_str("TIME_ZONE", "UTC")

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEVELOPMENT
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Without collectstatic (tests, a quick runserver) files are found in the apps directly.
WHITENOISE_USE_FINDERS = DEVELOPMENT

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["wallets.api.permissions.StaffModelPermissions"],
    "DEFAULT_PAGINATION_CLASS": "wallets.api.pagination.StaffPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
        "rest_framework.filters.SearchFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Responses can always be encoded, whatever an error message quotes (wallets.api.renderers).
    "DEFAULT_RENDERER_CLASSES": [
        "wallets.api.renderers.SafeJSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # Bodies: wallets.strictjson (exact numbers, no repeated keys, at most 32 levels, no lone
    # surrogates), forms and multipart uploads (reconciliation reports).
    "DEFAULT_PARSER_CLASSES": [
        "wallets.api.parsers.ExactJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "wallets.api.errors.staff_api_exception_handler",
    "COERCE_DECIMAL_TO_STRING": True,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Pitboss API",
    "DESCRIPTION": (
        "Back-office and operator API of the Pitboss casino wallet.\n\n"
        "Documentation: [the provider wallet contract and each protocol's page](/admin/docs/); "
        "[the schema as a readable page](/api/schema/); "
        "[your API token](/admin/my-api-token/) (integrators)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a `status` (and the currency list appears under two field names):
    # give each choice set one stable component name instead of hashed ones (Status878Enum).
    "ENUM_NAME_OVERRIDES": {
        "ProviderStatusEnum": "wallets.choices.ProviderStatus",
        "PlayerStatusEnum": "wallets.choices.PlayerStatus",
        "SessionStatusEnum": "wallets.choices.SessionStatus",
        "TransactionStatusEnum": "wallets.choices.TransactionStatus",
        "CurrencyEnum": "wallets.currencies.CURRENCY_CHOICES",
        "AlertStateEnum": "monitoring.choices.AlertState",
        "AlertRuleEnum": "monitoring.choices.AlertRule",
        "LimitKindEnum": "protection.api.serializers.LIMIT_KINDS",
        "ExclusionKindEnum": "protection.choices.ExclusionKind",
        "LimitPeriodEnum": "protection.choices.LimitPeriod",
        "CaseKindEnum": "fraud.choices.CaseKind",
        "CaseStatusEnum": "fraud.choices.CaseStatus",
        "CaseOutcomeEnum": "fraud.choices.CaseOutcome",
        "FraudRuleKindEnum": "fraud.choices.RuleKind",
        "FraudRuleActionEnum": "fraud.choices.RuleAction",
        "FraudVersionStateEnum": "fraud.choices.VersionState",
        "FraudListKindEnum": "fraud.choices.ListKind",
        "FraudListPurposeEnum": "fraud.choices.ListPurpose",
        "BacktestStatusEnum": "fraud.choices.BacktestStatus",
    },
}

# Celery: Redis is the broker; beat schedules live in the database (django-celery-beat).
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)

# Wallet API
WALLET_SIGNATURE_WINDOW_SECONDS = env_int("WALLET_SIGNATURE_WINDOW_SECONDS", 300)
# How long a process keeps a provider's credentials (decrypted) between reloads. Changes made
# in the same process apply at once; other processes see them within this many seconds.
WALLET_PROVIDER_CACHE_SECONDS = env_int("WALLET_PROVIDER_CACHE_SECONDS", 1)
# How long an old credential keeps working after a rotation, so providers can roll over.
CREDENTIAL_ROTATION_OVERLAP_SECONDS = env_int("CREDENTIAL_ROTATION_OVERLAP_SECONDS", 3600)
# Trust X-Forwarded-For / X-Forwarded-Proto only behind a proxy that sets them.
BEHIND_PROXY = env_bool("BEHIND_PROXY", False)
# The proxy's own addresses as the application sees them (e.g. 127.0.0.1 for a proxy on this
# host): a request from one of them is never a local caller (/metrics), forwarding header or not.
PROXY_ADDRESSES = env_list("PROXY_ADDRESSES", [])
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True

if not DEVELOPMENT:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    if not SECURE_HSTS_PRELOAD:  # a deliberate choice of the operator, not an oversight
        SILENCED_SYSTEM_CHECKS = ["security.W021"]
    # Health checks and the wallet API are reached over plain HTTP by internal probes.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]

# Staff logins (admin, API login): a (username, address) is locked out for the window after
# this many failures, an address after ADMIN_LOGIN_MAX_FAILURES_PER_ADDRESS
# (wallets.login_throttle).
AUTHENTICATION_BACKENDS = [
    "wallets.login_throttle.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
ADMIN_LOGIN_MAX_FAILURES = env_int("ADMIN_LOGIN_MAX_FAILURES", 5)
ADMIN_LOGIN_MAX_FAILURES_PER_ADDRESS = env_int("ADMIN_LOGIN_MAX_FAILURES_PER_ADDRESS", 20)
ADMIN_LOGIN_LOCKOUT_SECONDS = env_int("ADMIN_LOGIN_LOCKOUT_SECONDS", 900)

# Fraud: held amounts from this many minor units need two different approvers (four eyes),
# unless a rule names a lower figure.
FRAUD_FOUR_EYES_MINOR = env_int("FRAUD_FOUR_EYES_MINOR", 100_000)
# Fraud case manager: how long a case of each kind may wait for a decision (minutes); the
# queue turns amber at 75 % of it and red beyond it.
FRAUD_CASE_SLA_MINUTES = {
    "hold": env_int("FRAUD_SLA_HOLD_MINUTES", 60),
    "decline": env_int("FRAUD_SLA_DECLINE_MINUTES", 240),
    "flag": env_int("FRAUD_SLA_FLAG_MINUTES", 24 * 60),
}

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django.request": {"level": "ERROR"},
    },
}

# Monitoring: metrics capture in Redis, alert notifications, /metrics access.
MONITORING_REDIS_URL = env_str("MONITORING_REDIS_URL", "")  # empty: REDIS_URL
MONITORING_REDIS_PREFIX = env_str("MONITORING_REDIS_PREFIX", "pitboss:mon")
# The capture client's connect and I/O timeout: Redis trouble may cost a wallet call this much
# once, then capture backs off for MONITORING_REDIS_BACKOFF_SECONDS and counts calls as lost.
MONITORING_REDIS_TIMEOUT_MS = env_int("MONITORING_REDIS_TIMEOUT_MS", 50)
# `background`: calls are queued in process memory and a sender thread writes them to Redis every
# MONITORING_CAPTURE_INTERVAL_MS (the wallet pays a deque append); `sync`: one Redis round trip
# inside each call. Beyond MONITORING_CAPTURE_QUEUE_LIMIT queued calls, new ones count as lost.
MONITORING_CAPTURE_MODE = env_str("MONITORING_CAPTURE_MODE", "background")
MONITORING_CAPTURE_INTERVAL_MS = env_int("MONITORING_CAPTURE_INTERVAL_MS", 200)
MONITORING_CAPTURE_QUEUE_LIMIT = env_int("MONITORING_CAPTURE_QUEUE_LIMIT", 100_000)
MONITORING_REDIS_BACKOFF_SECONDS = env_int("MONITORING_REDIS_BACKOFF_SECONDS", 1)
MONITORING_REDIS_TTL_SECONDS = env_int("MONITORING_REDIS_TTL_SECONDS", 6 * 3600)
MONITORING_RETENTION_DAYS = env_int("MONITORING_RETENTION_DAYS", 35)
# /metrics: with METRICS_TOKEN set, a `Authorization: Bearer <token>` header or a staff login is
# required; without it, loopback callers and staff only.
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
ALERT_EMAIL_TO = env_list("ALERT_EMAIL_TO", [])
ALERT_EMAIL_FROM = env_str("ALERT_EMAIL_FROM", "pitboss-alerts@localhost")
ALERT_WEBHOOK_URL = env_str("ALERT_WEBHOOK_URL", "")
ALERT_WEBHOOK_TIMEOUT_SECONDS = env_int("ALERT_WEBHOOK_TIMEOUT_SECONDS", 5)
ALERT_NOTIFY_MAX_ATTEMPTS = env_int("ALERT_NOTIFY_MAX_ATTEMPTS", 6)
ALERT_NOTIFY_BACKOFF_SECONDS = env_int("ALERT_NOTIFY_BACKOFF_SECONDS", 30)
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEVELOPMENT
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
