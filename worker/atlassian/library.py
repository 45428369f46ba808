"""atlassian-python-api's REST client, imported without the package's front door.

The worker speaks to Jira and Confluence through one class of the library,
:class:`~atlassian.rest_client.AtlassianRestAPI`: its session, its authentication and its
``request(..., advanced_mode=True)``. Everything above that (paths, paging, errors, retries)
is :mod:`worker.atlassian`'s own. The product classes (``Jira``, ``JiraCloud``,
``ConfluenceServer``) add only methods the worker does not call and the defaults of
``api_root`` and ``api_version``, which ``request`` does not read.

Importing any module of the library first runs its package ``__init__``, and that imports
every product client the library ships (Bitbucket, Bamboo, Insight, Xray, Tempo...) and,
through the Confluence classes, BeautifulSoup: 16 MB of resident memory, an eighth of what
the whole worker may use at 100,000 tickets (measured with ``VmRSS`` around the import; see
docs/performance.md). :func:`rest_client_class` registers the package without running its
``__init__`` and imports the one module the worker needs. The package stays whole for
everyone else: the first attribute the ``__init__`` would have defined (``from atlassian
import Jira``, as the tests and the benchmark's baseline write) runs it then, into the same
module object, exactly as a plain import would have.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from atlassian.rest_client import AtlassianRestAPI

PACKAGE = "atlassian"

#: one thread runs the deferred ``__init__``; another asking meanwhile waits for it
_completing = threading.Lock()


def _register_without_init() -> None:
    """Put the package in ``sys.modules`` with its ``__init__`` deferred (no-op if imported)."""
    if PACKAGE in sys.modules:
        return
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        raise ImportError(f"{PACKAGE} (atlassian-python-api) is not installed as a package")
    package = importlib.util.module_from_spec(spec)
    loader = spec.loader

    completing_thread: list[int] = []

    def complete(name: str) -> Any:
        # Module-level __getattr__ (PEP 562): called only for a name the module lacks.
        if name.startswith("__") or threading.get_ident() in completing_thread:
            # the __init__ itself asking (``from atlassian import utils``): not defined yet,
            # so the import system imports the submodule
            raise AttributeError(name)
        with _completing:  # another thread asking meanwhile waits for the whole package
            if package.__dict__.get("__getattr__") is complete:
                completing_thread.append(threading.get_ident())
                try:
                    loader.exec_module(package)
                finally:
                    completing_thread.clear()
                if package.__dict__.get("__getattr__") is complete:
                    del package.__dict__["__getattr__"]
        return getattr(package, name)

    package.__dict__["__getattr__"] = complete
    sys.modules[PACKAGE] = package


def rest_client_class() -> type[AtlassianRestAPI]:
    """The library's REST client class, with as little of the library imported as that takes."""
    _register_without_init()
    from atlassian.rest_client import AtlassianRestAPI

    return AtlassianRestAPI
