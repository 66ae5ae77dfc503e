"""A real Django on the other end of the interop tests (crates/django/tests/against_django.rs).

Reads one JSON request on stdin, answers one JSON object on stdout. Django is configured in
memory: SECRET_KEY and SECRET_KEY_FALLBACKS from the request, the sessions app, USE_TZ.
No database is touched: SessionBase.encode/decode and the signed_cookies engine need none.
"""
import datetime
import json
import sys

import django
from django.conf import settings

request = json.load(sys.stdin)
settings.configure(
    SECRET_KEY=request["secret"],
    SECRET_KEY_FALLBACKS=request.get("fallbacks", []),
    INSTALLED_APPS=["django.contrib.sessions"],
    USE_TZ=True,
    SESSION_SERIALIZER="django.contrib.sessions.serializers.JSONSerializer",
)
django.setup()

from django.contrib.sessions.backends.db import SessionStore as DbStore  # noqa: E402
from django.contrib.sessions.backends.signed_cookies import SessionStore as CookieStore  # noqa: E402
from django.core import signing  # noqa: E402


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
else:
    raise SystemExit(f"unknown op {op!r}")
json.dump(out, sys.stdout, default=str)
