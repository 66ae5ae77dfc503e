"""A real Django on the other end of the interop tests (crates/django/tests/).

Reads one JSON request on stdin, answers one JSON object on stdout. Django is configured in
memory: SECRET_KEY and SECRET_KEY_FALLBACKS from the request, the sessions app, USE_TZ, the
JSON serializer, and for the engine tests (engines.rs) the engine (SESSION_ENGINE's last part),
its cache server or database and SESSION_COOKIE_AGE.

Format operations (against_django.rs; no server is touched: SessionBase.encode/decode and the
signed_cookies engine need none): encode, decode, cookie_save, cookie_load, json.

Engine operations, through the engine's SessionStore as a view would:
- create: a new session with `data` and `expiry`, saved; answers its key (the cookie value).
- load: the session under `key`; answers its items (with `_session_expiry`, if set) and the
  key after loading (None when Django dropped it: unknown, expired, refused).
- change: load `key`, update it with `data`, save; answers the key after saving.
- flush: load `key` and flush it (a logout).
- migrate: Django's `migrate sessions` (the django_session table).
- store_datetime: a new session holding a datetime (which only pickle can carry), saved.
"""
import datetime
import json
import sys
from importlib import import_module

import django
from django.conf import settings

request = json.load(sys.stdin)
caches = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
cache = request.get("cache")
if cache is not None:
    backend = {
        "redis": "django.core.cache.backends.redis.RedisCache",
        "memcached": "django.core.cache.backends.memcached.PyMemcacheCache",
    }[cache["kind"]]
    caches["default"] = {
        "BACKEND": backend,
        "LOCATION": cache["location"],
        "KEY_PREFIX": cache.get("key_prefix", ""),
        "VERSION": cache.get("version", 1),
    }
databases = {}
database = request.get("database")
if database is not None:
    # The matrix's server, from the URL the Rust side uses too.
    from urllib.parse import unquote, urlsplit

    url = urlsplit(database["url"])
    if url.scheme == "sqlite":
        databases["default"] = {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": unquote(url.netloc + url.path),
        }
    else:
        if url.scheme in ("mysql", "mariadb"):
            # PyMySQL (pure Python) standing in for mysqlclient, whose version Django checks.
            import pymysql

            pymysql.version_info = (2, 2, 1, "final", 0)
            pymysql.install_as_MySQLdb()
        databases["default"] = {
            "ENGINE": {
                "postgres": "django.db.backends.postgresql",
                "postgresql": "django.db.backends.postgresql",
                "mysql": "django.db.backends.mysql",
                "mariadb": "django.db.backends.mysql",
            }[url.scheme],
            "NAME": unquote(url.path.lstrip("/")),
            "USER": unquote(url.username or ""),
            "PASSWORD": unquote(url.password or ""),
            "HOST": url.hostname or "",
            "PORT": str(url.port or ""),
        }
settings.configure(
    DATABASES=databases,
    SECRET_KEY=request["secret"],
    SECRET_KEY_FALLBACKS=request.get("fallbacks", []),
    INSTALLED_APPS=["django.contrib.sessions"],
    USE_TZ=True,
    SESSION_ENGINE="django.contrib.sessions.backends." + request.get("engine", "db"),
    SESSION_SERIALIZER="django.contrib.sessions.serializers.JSONSerializer",
    SESSION_COOKIE_AGE=request.get("cookie_age", 1209600),
    CACHES=caches,
)
django.setup()

from django.contrib.sessions.backends.db import SessionStore as DbStore  # noqa: E402
from django.contrib.sessions.backends.signed_cookies import SessionStore as CookieStore  # noqa: E402

SessionStore = import_module(settings.SESSION_ENGINE).SessionStore


def expiry_value(spec):
    """The value Django's set_expiry is given: seconds, or a timedelta."""
    if spec is None:
        return None
    if "seconds" in spec:
        return spec["seconds"]
    return datetime.timedelta(seconds=spec["timedelta"])


op = request["op"]
if op == "encode":
    # What SessionStore.save() writes into django_session.session_data.
    s = DbStore()
    s.update(request["data"])
    s.set_expiry(expiry_value(request.get("expiry")))
    out = {"value": s.encode(s._session), "session": s._session}
elif op == "decode":
    s = DbStore()
    out = {"session": s.decode(request["value"])}
elif op == "cookie_save":
    # The signed_cookies engine: the cookie value is the session key after save().
    s = CookieStore()
    s.update(request["data"])
    s.set_expiry(expiry_value(request.get("expiry")))
    s.save()
    out = {"value": s.session_key, "session": s._session}
elif op == "cookie_load":
    s = CookieStore(session_key=request["value"])
    out = {"session": dict(s.items()), "expiry_age": s.get_expiry_age()}
elif op == "json":
    # The JSONSerializer's bytes, as latin-1 text.
    from django.contrib.sessions.serializers import JSONSerializer

    out = {"bytes": JSONSerializer().dumps(request["data"]).decode("latin-1")}
elif op == "create":
    s = SessionStore()
    s.update(request["data"])
    if request.get("expiry") is not None:
        s.set_expiry(expiry_value(request["expiry"]))
    s.save()
    out = {"key": s.session_key}
elif op == "load":
    s = SessionStore(session_key=request["key"])
    items = dict(s.items())
    out = {"session": items, "key": s.session_key}
elif op == "change":
    s = SessionStore(session_key=request["key"])
    s.update(request["data"])
    s.save()
    out = {"key": s.session_key}
elif op == "flush":
    s = SessionStore(session_key=request["key"])
    s.flush()
    out = {"key": s.session_key}
elif op == "migrate":
    # Django's own migration makes the django_session table.
    from django.core.management import call_command

    call_command("migrate", "sessions", verbosity=0)
    out = {}
elif op == "store_datetime":
    s = SessionStore()
    s["when"] = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    s.save()
    out = {"key": s.session_key}
else:
    raise SystemExit(f"unknown op {op!r}")
json.dump(out, sys.stdout, default=str)
