"""Django settings for ODCM. Every value comes from an ``ODCM_`` environment variable.

With ``ODCM_DEBUG`` off (the default) ODCM refuses to start on unsafe configuration; see
:func:`odcm.config.validate_production`.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
import django_stubs_ext
from csp.constants import NONE, SELF

from odcm.config import (
    development_encryption_key,
    email_settings,
    ldap_settings,
    oidc_settings,
    validate_production,
)
from odcm.env import EnvError, env_bool, env_int, env_list, env_str, env_url
from odcm.idpconfig import idp_private_keys

# Lets classes such as ModelAdmin[Model] be subscripted at run time, as the type stubs expect.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("ODCM_VAR_DIR") or BASE_DIR / "var")

DEBUG = env_bool("ODCM_DEBUG", False)
SECRET_KEY = env_str("ODCM_SECRET_KEY") or ""
ALLOWED_HOSTS = env_list("ODCM_ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
ODCM_ENCRYPTION_KEYS = env_list("ODCM_ENCRYPTION_KEYS")
ODCM_SITE_URL = (
    env_url("ODCM_SITE_URL", schemes=("http", "https")) or "http://127.0.0.1:8000"
).rstrip("/")
ODCM_ALLOW_HTTP_INSTANCES = env_bool("ODCM_ALLOW_HTTP_INSTANCES", False)
ODCM_ALLOWED_PRIVATE_NETWORKS = env_list("ODCM_ALLOWED_PRIVATE_NETWORKS")
ODCM_METRICS_TOKEN = env_str("ODCM_METRICS_TOKEN")
# Serving /metrics without a token in production must be chosen by name (check --deploy).
ODCM_METRICS_PUBLIC = env_bool("ODCM_METRICS_PUBLIC", False)
ODCM_OCTOPUS_CONNECT_TIMEOUT = env_int("ODCM_OCTOPUS_CONNECT_TIMEOUT", 5, minimum=1)
ODCM_OCTOPUS_READ_TIMEOUT = env_int("ODCM_OCTOPUS_READ_TIMEOUT", 30, minimum=1)
ODCM_REDIS_URL = env_url("ODCM_REDIS_URL", schemes=("redis", "rediss"))
ODCM_DATABASE_URL = env_url("ODCM_DATABASE_URL", schemes=("postgres", "postgresql", "sqlite"))

if DEBUG and not SECRET_KEY:
    # Development only: a fixed, obviously unsafe key. Production refuses to start without one.
    SECRET_KEY = "odcm-insecure-development-key-do-not-use-in-production"  # noqa: S105
if DEBUG and not ODCM_ENCRYPTION_KEYS:
    ODCM_ENCRYPTION_KEYS = [development_encryption_key(SECRET_KEY)]

validate_production(
    debug=DEBUG,
    secret_key=SECRET_KEY,
    allowed_hosts=ALLOWED_HOSTS,
    encryption_keys=ODCM_ENCRYPTION_KEYS,
)

SITE_IS_HTTPS = urlsplit(ODCM_SITE_URL).scheme == "https"

INSTALLED_APPS = [
    "odcm.adminsite.OdcmAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.forms",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.mfa",
    "allauth.idp.oidc",
    "csp",
    "django_htmx",
    "js_lib_bootstrap5",
    "odcm",
    "audit",
    "identity",
    "spaces",
    "monitoring",
    "sharing",
    "fleetconfig",
    "promotions",
    "rollouts",
    "managed",
]

MIDDLEWARE = [
    # First: probes answer before host validation and the https redirect (see odcm/health.py).
    "odcm.health.ProbeMiddleware",
    "odcm.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "odcm.limits.RequestSizeLimitMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "identity.middleware.AdminMFAMiddleware",
    "identity.middleware.SessionIndexMiddleware",
]

ROOT_URLCONF = "odcm.urls"
# One template for every form field (label, widget, help text, errors): odcm/forms.py.
FORM_RENDERER = "odcm.forms.FormRenderer"
WSGI_APPLICATION = "odcm.wsgi.application"
ASGI_APPLICATION = "odcm.asgi.application"

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
                "odcm.context_processors.site",
                "odcm.context_processors.build",
                "odcm.nav.nav_items",
            ],
        },
    },
]

# Database: PostgreSQL in production; a SQLite file under var/ when nothing is configured.
if ODCM_DATABASE_URL and not ODCM_DATABASE_URL.startswith("sqlite"):
    DATABASES = {
        "default": dj_database_url.parse(
            ODCM_DATABASE_URL,
            conn_max_age=env_int("ODCM_DATABASE_CONN_MAX_AGE", 60, minimum=0),
            conn_health_checks=True,
        )
    }
    # No JIT: the dashboard's queries are many cheap index probes whose cost estimate crosses
    # jit_above_cost at a few thousand spaces, and compiling them took over a second.
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"
else:
    sqlite_path = (
        dj_database_url.parse(ODCM_DATABASE_URL)["NAME"]
        if ODCM_DATABASE_URL
        else str(VAR_DIR / "odcm.sqlite3")
    )
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": sqlite_path,
            # WAL and IMMEDIATE transactions let the demo's web, worker and beat processes
            # share one file without "database is locked" errors.
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cache: Redis when configured (shared by every process), else files under var/ so the
# demo's processes still share rate-limit counters.
if ODCM_REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": ODCM_REDIS_URL,
            "KEY_PREFIX": "odcm",
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

AUTH_USER_MODEL = "identity.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
# LDAP / Active Directory: only when configured (python-ldap is an optional dependency).
if env_str("ODCM_LDAP_SERVER_URI"):
    globals().update(ldap_settings())
    AUTHENTICATION_BACKENDS.insert(0, "identity.ldap_backend.LDAPBackend")
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"

# django-allauth: accounts are created by admins; login by username or email.
ACCOUNT_ADAPTER = "identity.adapters.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_SESSION_REMEMBER = None
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_RATE_LIMITS = {
    # Failed logins: per address and per account (the "key" is the login entered).
    "login_failed": env_str("ODCM_LOGIN_RATE_LIMIT") or "20/m/ip,5/5m/key",
    "change_password": "5/m/user",
    "reset_password": "20/m/ip,5/m/key",
}

# Single sign-on (OpenID Connect) through allauth; providers from ODCM_OIDC_PROVIDERS (JSON) or
# added by an administrator as social applications. Accounts are linked by verified email only.
SOCIALACCOUNT_ADAPTER = "identity.adapters.SocialAccountAdapter"
SOCIALACCOUNT_PROVIDERS = oidc_settings()
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_LOGIN_ON_GET = False
ODCM_OIDC_GROUPS_CLAIM = env_str("ODCM_OIDC_GROUPS_CLAIM") or "groups"
ODCM_OIDC_SIGNUP = (env_str("ODCM_OIDC_SIGNUP") or "invite").lower()
if ODCM_OIDC_SIGNUP not in ("invite", "open"):
    raise EnvError("ODCM_OIDC_SIGNUP must be 'invite' or 'open'")

# Two-factor authentication (TOTP, with recovery codes), required for administrators if set.
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "ODCM"
ODCM_REQUIRE_ADMIN_MFA = env_bool("ODCM_REQUIRE_ADMIN_MFA", False)

# ODCM as the OpenID Connect provider of the Octopus instances (allauth.idp.oidc): keys from
# ODCM_IDP_PRIVATE_KEYS / ODCM_IDP_PRIVATE_KEY (odcm/idpconfig.py), groups in the id_token.
IDP_OIDC_ADAPTER = "identity.idp.ODCMOIDCAdapter"
IDP_OIDC_PRIVATE_KEYS = idp_private_keys(VAR_DIR)
IDP_OIDC_ID_TOKEN_EXPIRES_IN = 5 * 60
IDP_OIDC_RP_INITIATED_LOGOUT_ASKS_FOR_OP_LOGOUT = True

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Security: secure cookies and HSTS whenever ODCM is served over https.
SESSION_COOKIE_SECURE = SITE_IS_HTTPS
CSRF_COOKIE_SECURE = SITE_IS_HTTPS
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("ODCM_SESSION_HOURS", 12, minimum=1) * 3600
SECURE_SSL_REDIRECT = SITE_IS_HTTPS and env_bool("ODCM_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = 31536000 if SITE_IS_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = SITE_IS_HTTPS
SECURE_HSTS_PRELOAD = SITE_IS_HTTPS
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy: scripts and styles only from our own static files (no inline code,
# no CDN). Bootstrap's icons are data: SVGs. form-action is left open on purpose: single
# sign-on posts to ODCM, which redirects the form to the identity provider.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
    }
}
CSRF_TRUSTED_ORIGINS = [ODCM_SITE_URL] + env_list("ODCM_CSRF_TRUSTED_ORIGINS")
# Reverse proxies in front of ODCM whose X-Forwarded-For entries are trusted (see
# odcm/clientip.py): the client's address for sign-in limits, the audit log and throttles.
ODCM_TRUSTED_PROXY_HOPS = env_int("ODCM_TRUSTED_PROXY_HOPS", 0, minimum=0)
if env_bool("ODCM_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True

# Email: ODCM_EMAIL_URL (smtp://user:pass@host:port, smtp+tls://, smtp+ssl://, console://),
# or the separate ODCM_EMAIL_HOST/PORT/USER/PASSWORD/USE_TLS variables.
globals().update(email_settings(debug=DEBUG, var_dir=VAR_DIR))
DEFAULT_FROM_EMAIL = env_str("ODCM_DEFAULT_FROM_EMAIL") or "ODCM <odcm@localhost>"
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# REST API: deny by default; each view opens itself to exactly who may use it.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "identity.api.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["odcm.api.permissions.DenyAll"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "odcm.api.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": [
        "odcm.api.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": ["odcm.api.filters.FilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "odcm.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "odcm.api.exceptions.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Throttles identify clients as odcm.clientip does.
    "NUM_PROXIES": ODCM_TRUSTED_PROXY_HOPS,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ODCM API",
    "DESCRIPTION": "Octopus Data Center Manager: instances, spaces, monitoring, sharing.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # Never ask validator.swagger.io about our schema.
    "SWAGGER_UI_SETTINGS": {"validatorUrl": None},
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # One name for the instance statuses, wherever they appear (instances, history, reports).
    "ENUM_NAME_OVERRIDES": {
        "InstanceStatusEnum": "spaces.models.Instance.Status",
        "DownstreamModeEnum": "managed.models.Downstream.Mode",
        "BaselineOnDriftEnum": "managed.models.InstanceBaseline.OnDrift",
        "BlueprintOnDriftEnum": "managed.models.Blueprint.OnDrift",
        "BaselineTargetStatusEnum": "managed.models.BaselineTarget.Status",
        "SubscriptionModeEnum": "sharing.models.Subscription.Mode",
        "RolloutStateEnum": "rollouts.models.Rollout.State",
        "DeploymentRunStateEnum": "rollouts.models.DeploymentRun.State",
        "RunDeploymentStateEnum": "rollouts.models.RunDeployment.State",
        "StagePromotionStateEnum": "rollouts.models.StagePromotion.State",
        "RuleSelectorEnum": "identity.models.GrantRule.Selector",
        "WaveSelectorEnum": "rollouts.models.PolicyWave.Selector",
        "StageSelectorEnum": "rollouts.models.PipelineStage.Selector",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "odcm.api.schema.add_error_responses",
    ],
}

# Celery: see odcm/celery.py. With no Redis, a broker on the file system under var/, so the
# demo runs real worker processes and needs no server.
if ODCM_REDIS_URL:
    CELERY_BROKER_URL = ODCM_REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {"visibility_timeout": 3600}
else:
    CELERY_BROKER_URL = "filesystem://"
    _broker_dir = VAR_DIR / "broker"
    # kombu's file-system transport does not create its folders.
    for _folder in ("queue", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env_bool("ODCM_CELERY_EAGER", False)
# Two ODCMs may share one Redis (tests, a lab): each needs its own queue.
CELERY_TASK_DEFAULT_QUEUE = env_str("ODCM_CELERY_QUEUE") or "celery"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Periodic tasks; each app adds its entries here. Every periodic task is idempotent and safe
# when two beat schedulers run at once.
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "worker-heartbeat": {"task": "odcm.tasks.worker_heartbeat", "schedule": 60.0},
}

# Sharing (variable sets and step templates brokered between spaces).
ODCM_SHARING_FAILURE_ALERT_MINUTES = env_int("ODCM_SHARING_FAILURE_ALERT_MINUTES", 60, minimum=1)
ODCM_SHARING_RETRY_BASE_SECONDS = env_int("ODCM_SHARING_RETRY_BASE_SECONDS", 30, minimum=1)
ODCM_SHARING_RETRY_MAX_SECONDS = env_int("ODCM_SHARING_RETRY_MAX_SECONDS", 3600, minimum=1)
ODCM_SHARING_CLAIM_SECONDS = env_int("ODCM_SHARING_CLAIM_SECONDS", 180, minimum=5)
ODCM_SHARING_REQUEUE_SECONDS = env_int("ODCM_SHARING_REQUEUE_SECONDS", 300, minimum=5)
ODCM_SHARING_DRIFT_REAPPLY = env_bool("ODCM_SHARING_DRIFT_REAPPLY", True)
ODCM_SHARING_TEMPLATES_DIR = env_str("ODCM_SHARING_TEMPLATES_DIR") or ""
CELERY_BEAT_SCHEDULE["sharing-sweep"] = {
    "task": "sharing.tasks.sweep",
    "schedule": float(env_int("ODCM_SHARING_SWEEP_SECONDS", 30, minimum=5)),
}
CELERY_BEAT_SCHEDULE["sharing-drift"] = {
    "task": "sharing.tasks.check_drift_all",
    "schedule": float(env_int("ODCM_SHARING_DRIFT_SECONDS", 900, minimum=30)),
}

# Fan-out (sharing deliveries, team pushes): jobs at once per worker process, and requests
# at once to one Octopus server from one process (odcm/fanout.py).
ODCM_FANOUT_CONCURRENCY = env_int("ODCM_FANOUT_CONCURRENCY", 100, minimum=1)
ODCM_OCTOPUS_PER_INSTANCE_CONCURRENCY = env_int(
    "ODCM_OCTOPUS_PER_INSTANCE_CONCURRENCY", 4, minimum=1
)
ODCM_FANOUT_BATCH_SIZE = env_int("ODCM_FANOUT_BATCH_SIZE", 125, minimum=1)
# Rollouts: staged waves for what the broker delivers; deployment runs polled this often.
ODCM_RUNS_POLL_SECONDS = env_int("ODCM_RUNS_POLL_SECONDS", 2, minimum=1)
CELERY_BEAT_SCHEDULE["rollouts-tick"] = {
    "task": "rollouts.tasks.tick",
    "schedule": float(env_int("ODCM_ROLLOUTS_TICK_SECONDS", 15, minimum=1)),
}
# Managed spaces (blueprints applied through a broker; docs/managed-spaces.md).
ODCM_MANAGED_CLAIM_SECONDS = env_int("ODCM_MANAGED_CLAIM_SECONDS", 300, minimum=5)
ODCM_MANAGED_RETRY_BASE_SECONDS = env_int("ODCM_MANAGED_RETRY_BASE_SECONDS", 30, minimum=1)
ODCM_MANAGED_RETRY_MAX_SECONDS = env_int("ODCM_MANAGED_RETRY_MAX_SECONDS", 3600, minimum=1)
CELERY_BEAT_SCHEDULE["managed-sweep"] = {
    "task": "managed.tasks.sweep",
    "schedule": float(env_int("ODCM_MANAGED_SWEEP_SECONDS", 30, minimum=5)),
}
CELERY_BEAT_SCHEDULE["managed-drift"] = {
    "task": "managed.tasks.check_drift_all",
    "schedule": float(env_int("ODCM_MANAGED_DRIFT_SECONDS", 900, minimum=30)),
}
CELERY_BEAT_SCHEDULE["managed-facades"] = {
    "task": "managed.tasks.sync_customers_all",
    "schedule": float(env_int("ODCM_MANAGED_FACADE_SECONDS", 600, minimum=30)),
}

# Identity: grants pushed into Octopus as managed teams.
# Every new API token expires; no later than this many days (also the default).
ODCM_TOKEN_MAX_DAYS = env_int("ODCM_TOKEN_MAX_DAYS", 365, minimum=1)
ODCM_TEAM_SYNC_RETRY_BASE_SECONDS = env_int("ODCM_TEAM_SYNC_RETRY_BASE_SECONDS", 15, minimum=1)
ODCM_TEAM_SYNC_RETRY_MAX_SECONDS = env_int("ODCM_TEAM_SYNC_RETRY_MAX_SECONDS", 900, minimum=1)
CELERY_BEAT_SCHEDULE["identity-team-retry"] = {
    "task": "identity.tasks.retry_due",
    "schedule": float(env_int("ODCM_TEAM_SYNC_RETRY_SWEEP_SECONDS", 10, minimum=2)),
}
CELERY_BEAT_SCHEDULE["identity-team-reconcile"] = {
    "task": "identity.tasks.reconcile",
    "schedule": float(env_int("ODCM_TEAM_RECONCILE_SECONDS", 900, minimum=30)),
}
# Grants and subscriptions that follow a tag or region: also applied at once when an
# instance's tags, region or spaces change; this sweep catches anything missed.
ODCM_LABEL_RULES_SECONDS = float(env_int("ODCM_LABEL_RULES_SECONDS", 300, minimum=30))
CELERY_BEAT_SCHEDULE["identity-grant-rules"] = {
    "task": "identity.tasks.apply_grant_rules",
    "schedule": ODCM_LABEL_RULES_SECONDS,
}
CELERY_BEAT_SCHEDULE["sharing-subscription-rules"] = {
    "task": "sharing.tasks.apply_subscription_rules",
    "schedule": ODCM_LABEL_RULES_SECONDS,
}

# Configuration as code: poll Git sources for new commits of the fleet file.
CELERY_BEAT_SCHEDULE["fleetconfig-git"] = {
    "task": "fleetconfig.tasks.poll_git_sources",
    "schedule": float(env_int("ODCM_GITOPS_POLL_SECONDS", 300, minimum=10)),
}

# Registry: re-read every instance's spaces (new, renamed, gone) periodically.
CELERY_BEAT_SCHEDULE["spaces-refresh"] = {
    "task": "spaces.tasks.refresh_all",
    "schedule": float(env_int("ODCM_SPACES_REFRESH_SECONDS", 900, minimum=60)),
}

# Monitoring: status sweep, inventory, deployment rollups and alerts.
ODCM_SWEEP_SECONDS = env_int("ODCM_SWEEP_SECONDS", 60, minimum=5)
ODCM_SWEEP_CONCURRENCY = env_int("ODCM_SWEEP_CONCURRENCY", 100, minimum=1)
ODCM_SWEEP_TIMEOUT = env_int("ODCM_SWEEP_TIMEOUT", 10, minimum=1)
ODCM_OFFLINE_AFTER = env_int("ODCM_OFFLINE_AFTER", 2, minimum=1)
ODCM_INVENTORY_SECONDS = env_int("ODCM_INVENTORY_SECONDS", 600, minimum=10)
ODCM_DEPLOYMENTS_SECONDS = env_int("ODCM_DEPLOYMENTS_SECONDS", 300, minimum=10)
ODCM_DEPLOYMENTS_BACKFILL_DAYS = env_int("ODCM_DEPLOYMENTS_BACKFILL_DAYS", 90, minimum=1)
ODCM_DEPLOYMENTS_OVERLAP_SECONDS = env_int("ODCM_DEPLOYMENTS_OVERLAP_SECONDS", 900, minimum=0)
ODCM_ALERT_REMINDER_HOURS = env_int("ODCM_ALERT_REMINDER_HOURS", 0, minimum=0)
# A space's oldest queued Octopus task waiting longer than this raises a queue alert (0: never).
ODCM_QUEUE_ALERT_MINUTES = env_int("ODCM_QUEUE_ALERT_MINUTES", 15, minimum=0)
ODCM_ALERT_LEASE_SECONDS = env_int("ODCM_ALERT_LEASE_SECONDS", 120, minimum=1)
ODCM_ALERT_RETRY_MAX_SECONDS = env_int("ODCM_ALERT_RETRY_MAX_SECONDS", 600, minimum=1)
ODCM_DASHBOARD_REFRESH_SECONDS = env_int("ODCM_DASHBOARD_REFRESH_SECONDS", 30, minimum=1)
ODCM_DASHBOARD_PAGE_SIZE = env_int("ODCM_DASHBOARD_PAGE_SIZE", 100, minimum=10)
ODCM_DASHBOARD_CACHE_SECONDS = env_int("ODCM_DASHBOARD_CACHE_SECONDS", 30, minimum=0)
CELERY_BEAT_SCHEDULE["monitoring-sweep"] = {
    "task": "monitoring.tasks.sweep_status",
    "schedule": float(ODCM_SWEEP_SECONDS),
}
CELERY_BEAT_SCHEDULE["monitoring-inventory"] = {
    "task": "monitoring.tasks.sweep_inventory",
    "schedule": float(ODCM_INVENTORY_SECONDS),
}
CELERY_BEAT_SCHEDULE["monitoring-deployments"] = {
    "task": "monitoring.tasks.pull_deployments",
    "schedule": float(ODCM_DEPLOYMENTS_SECONDS),
}
CELERY_BEAT_SCHEDULE["monitoring-alerts"] = {
    "task": "monitoring.tasks.dispatch_alerts",
    "schedule": float(env_int("ODCM_ALERT_DISPATCH_SECONDS", 15, minimum=1)),
}

# Retention: how many days of history to keep (0: forever); see odcm/retention.py and
# docs/operations.md. Daily rollups older than their age are compacted to monthly rows.
ODCM_RETENTION_AUDIT_DAYS = env_int("ODCM_RETENTION_AUDIT_DAYS", 730, minimum=0)
ODCM_RETENTION_STATUS_DAYS = env_int("ODCM_RETENTION_STATUS_DAYS", 400, minimum=0)
ODCM_RETENTION_NOTIFICATION_DAYS = env_int("ODCM_RETENTION_NOTIFICATION_DAYS", 180, minimum=0)
ODCM_RETENTION_DELIVERY_DAYS = env_int("ODCM_RETENTION_DELIVERY_DAYS", 180, minimum=0)
# Task records stop a task read again from being counted twice: keep them well past the
# backfill and overlap windows, the only times a task is read again.
ODCM_RETENTION_DEPLOYMENT_TASK_DAYS = env_int(
    "ODCM_RETENTION_DEPLOYMENT_TASK_DAYS", max(180, ODCM_DEPLOYMENTS_BACKFILL_DAYS + 30), minimum=0
)
if 0 < ODCM_RETENTION_DEPLOYMENT_TASK_DAYS <= ODCM_DEPLOYMENTS_BACKFILL_DAYS + 7:
    raise EnvError(
        "ODCM_RETENTION_DEPLOYMENT_TASK_DAYS must exceed ODCM_DEPLOYMENTS_BACKFILL_DAYS by more "
        "than 7 days (or be 0), or a re-read task would be counted twice"
    )
# At least 92: the preset timeframes (up to 90 days) always read daily rows.
ODCM_RETENTION_DAILY_ROLLUP_DAYS = env_int("ODCM_RETENTION_DAILY_ROLLUP_DAYS", 400, minimum=0)
if 0 < ODCM_RETENTION_DAILY_ROLLUP_DAYS < 92:
    raise EnvError("ODCM_RETENTION_DAILY_ROLLUP_DAYS must be at least 92 (or 0: never compact)")
CELERY_BEAT_SCHEDULE["retention"] = {
    "task": "odcm.tasks.prune_history",
    "schedule": float(env_int("ODCM_RETENTION_SECONDS", 3600, minimum=60)),
}

# ODCM_LOG_FORMAT: "plain" (default) or "json" (one object per line, for log collectors).
ODCM_LOG_FORMAT = (env_str("ODCM_LOG_FORMAT") or "plain").lower()
if ODCM_LOG_FORMAT not in ("plain", "json"):
    raise EnvError("ODCM_LOG_FORMAT must be 'plain' or 'json'")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact": {"()": "odcm.logging.RedactSecretsFilter"},
        "quiet_403": {"()": "odcm.logging.QuietForbiddenFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "odcm.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": ODCM_LOG_FORMAT,
            "filters": ["redact"],
        },
        # The development server's request log, with secrets in URLs masked.
        "django.server": {
            "class": "logging.StreamHandler",
            "formatter": ODCM_LOG_FORMAT,
            "filters": ["redact"],
        },
    },
    "root": {"handlers": ["console"], "level": env_str("ODCM_LOG_LEVEL") or "INFO"},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
        "django.request": {"filters": ["quiet_403"]},
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}

# Remote release promotions (docs/promotions.md).
ODCM_PROMOTIONS_CERT_DAYS = env_int("ODCM_PROMOTIONS_CERT_DAYS", 730, minimum=1)
ODCM_PROMOTIONS_TRUST_ANCHORS_FILE = env_str("ODCM_PROMOTIONS_TRUST_ANCHORS_FILE") or ""
ODCM_PROMOTIONS_PUBLIC_URL = env_str("ODCM_PROMOTIONS_PUBLIC_URL") or ""
ODCM_PROMOTIONS_CLAIM_SECONDS = env_int("ODCM_PROMOTIONS_CLAIM_SECONDS", 600, minimum=5)
CELERY_BEAT_SCHEDULE["promotions-sweep"] = {
    "task": "promotions.tasks.sweep",
    "schedule": float(env_int("ODCM_PROMOTIONS_SWEEP_SECONDS", 60, minimum=5)),
}
CELERY_BEAT_SCHEDULE["promotions-edits"] = {
    "task": "promotions.tasks.check_edits_all",
    "schedule": float(env_int("ODCM_PROMOTIONS_EDITS_SECONDS", 900, minimum=30)),
}
