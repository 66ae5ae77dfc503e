"""The Django half of the django_bridge example: a one-file Django site with logins.

    python site.py setup              # Django's tables (auth, sessions) and the user alice
    python site.py runserver ADDR     # serve it (add --noreload)

Settings come from the environment, as a deployment's would: DJANGO_SECRET_KEY, and
BRIDGE_DB (the SQLite file the Rust service opens too). Sessions: Django's `db` engine.
"""
import os
import sys

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    SECRET_KEY=os.environ["DJANGO_SECRET_KEY"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=[
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.sessions",
    ],
    MIDDLEWARE=[
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
    ],
    DATABASES={
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["BRIDGE_DB"]}
    },
    SESSION_ENGINE="django.contrib.sessions.backends.db",
    USE_TZ=True,
)
django.setup()

from django.contrib.auth import authenticate, login  # noqa: E402
from django.http import HttpResponse, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402


@csrf_exempt  # the demo posts without a form page; a real site keeps Django's CSRF check
def login_view(request):
    user = authenticate(
        request, username=request.POST.get("username"), password=request.POST.get("password")
    )
    if user is None:
        return HttpResponse("wrong user or password\n", status=401)
    login(request, user)
    return HttpResponse(f"logged in as {user.username}\n")


def whoami(request):
    """Who Django says is logged in, and what the Rust service wrote into the session."""
    if not request.user.is_authenticated:
        return JsonResponse({"user": None}, status=401)
    return JsonResponse(
        {
            "user": request.user.username,
            "id": request.user.pk,
            "rust_visits": request.session.get("rust_visits", 0),
        }
    )


urlpatterns = [path("login/", login_view), path("whoami/", whoami)]

if __name__ == "__main__":
    if sys.argv[1:] == ["setup"]:
        from django.contrib.auth.models import User
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        if not User.objects.filter(username="alice").exists():
            User.objects.create_user("alice", password="wonderland")
    else:
        from django.core.management import execute_from_command_line

        execute_from_command_line(sys.argv)
