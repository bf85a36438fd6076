"""What the framework apps' catalogue view computes, framework aside (flask_app.py and
django_app.py each route to it and render templates/catalogue.html, one file valid for both
Jinja2 and Django templates). endpoints.ts builds the page it must give, byte for byte.

    GET /catalogue/P   P in 1..PAGES: PER_PAGE items, each linked to /item/ID by the
                       framework's URL reversing, the title and names autoescaped
"""
PAGES = 100
PER_PAGE = 20


def page_context(page, item_url, page_url):
    """The template's context for page `page`; the URLs come from the framework's reversing."""
    items = []
    for i in range(PER_PAGE):
        item_id = (page - 1) * PER_PAGE + i + 1
        cents = (item_id * 37) % 10000
        items.append({
            "id": item_id,
            "name": "Mugs & cups <%d>" % item_id,
            "price": "%d.%02d" % divmod(cents, 100),
            "url": item_url(item_id),
        })
    return {
        "title": "Catalogue <page %d> & more" % page,
        "items": items,
        "page": page,
        "pages": PAGES,
        "next_url": page_url(page + 1) if page < PAGES else None,
    }
