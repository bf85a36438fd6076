"""The bench's Django app (Debian's python3-django), a one-file project, the same for every
system:

    GET /              200 text/plain "Hello World!" (the readiness probe's answer)
    GET /catalogue/P   200 text/html, templates/catalogue.html through Django's template
                       engine (framework_page.py)

The settings are startproject's where they matter per request: its middleware (security,
sessions, common, CSRF, auth, messages, clickjacking) and template context processors, DEBUG
off (so templates are cached). The database is never opened: the view reads no model, and the
session and user stay lazy.
"""
from pathlib import Path

from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="only-for-the-bench",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=[
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.sessions",
        "django.contrib.messages",
    ],
    MIDDLEWARE=[
        "django.middleware.security.SecurityMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    ],
    TEMPLATES=[{
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [Path(__file__).resolve().parent / "templates"],
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    USE_TZ=True,
)

from django.core.wsgi import get_wsgi_application  # noqa: E402 (after the settings)
from django.http import Http404, HttpResponse  # noqa: E402
from django.shortcuts import render  # noqa: E402
from django.urls import path, reverse  # noqa: E402

from framework_page import PAGES, page_context  # noqa: E402


def hello(request):
    return HttpResponse("Hello World!", content_type="text/plain")


def catalogue(request, page):
    if not 1 <= page <= PAGES:
        raise Http404()
    context = page_context(page, lambda item_id: reverse("item", args=[item_id]),
                           lambda number: reverse("catalogue", args=[number]))
    return render(request, "catalogue.html", context)


def item(request, item_id):
    return HttpResponse(f"item {item_id}")


urlpatterns = [
    path("", hello),
    path("catalogue/<int:page>", catalogue, name="catalogue"),
    path("item/<int:item_id>", item, name="item"),
]

application = get_wsgi_application()
