"""The operator console under ``/app/``: server-rendered pages (Jinja2, vendored htmx, a little own
JavaScript for the live timeline) over the same API functions and rules as ``/api/v1``, behind a sealed
session cookie signed in with an API secret, with CSRF protection on every state-changing request."""
