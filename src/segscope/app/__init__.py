"""The web app: browse datasets, predictions, errors and evaluations from a workspace.

``segscope app [NAME]`` serves it with uvicorn on 127.0.0.1:5151; in Python::

    from segscope.app import create_app, serve
    serve("~/.segscope/workspace.db", dataset="shapes", port=5151)

FastAPI, uvicorn and the page's static files are only imported when the app is built, so
importing :mod:`segscope` stays light. Pictures are drawn by :mod:`segscope.app.render`.
"""

from segscope.app.server import STATIC, create_app, serve

__all__ = ["STATIC", "create_app", "serve"]
