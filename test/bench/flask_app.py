"""The bench's Flask app (Debian's python3-flask), the same for every system:

    GET /              200 text/plain "Hello World!" (the readiness probe's answer)
    GET /catalogue/P   200 text/html, templates/catalogue.html through Jinja2 (framework_page.py)
"""
from flask import Flask, Response, abort, render_template, url_for

from framework_page import PAGES, page_context

app = Flask(__name__)
# Jinja2 drops a template's last newline, Django keeps it: kept here, both send the same bytes.
app.jinja_env.keep_trailing_newline = True


@app.route("/")
def hello():
    return Response("Hello World!", mimetype="text/plain")


@app.route("/catalogue/<int:page>")
def catalogue(page):
    if not 1 <= page <= PAGES:
        abort(404)
    context = page_context(page, lambda item_id: url_for("item", item_id=item_id),
                           lambda number: url_for("catalogue", page=number))
    return render_template("catalogue.html", **context)


@app.route("/item/<int:item_id>")
def item(item_id):
    return f"item {item_id}"
