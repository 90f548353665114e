"""Work off the event loop that reports failures as notifications, never as a traceback.

Every call into the core that may be slow (a model, the embedder, SQLite under another
thread's lock) runs in a worker made with ``background``. An exception it raises becomes an
error notification: a ``MemchatError`` shows its own actionable message, anything else says
what went wrong in one line.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from textual import work
from textual.app import App
from textual.dom import DOMNode

from assistant.errors import MemchatError

log = logging.getLogger(__name__)

Method = TypeVar("Method", bound=Callable[..., Any])


def error_text(exc: BaseException) -> str:
    """The one line a user sees for ``exc``."""
    from assistant.cli.failures import describe

    if isinstance(exc, MemchatError):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        where = f" {exc.filename}" if exc.filename else ""
        return f"cannot access{where}: {exc.strerror}"
    described = describe(exc)  # SQLite busy, damaged or full; undecodable text
    if described is not None:
        return described[0]
    return f"something went wrong ({type(exc).__name__}: {exc}); please report it"


def report_error(app: App, exc: BaseException) -> None:
    """Show ``exc`` as an error notification, from the app's thread or a worker thread."""
    if not isinstance(exc, MemchatError):
        log.error("unexpected error in the TUI", exc_info=exc)
    message = error_text(exc)
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # a thread worker: hand it to the app's thread
        if app.is_running:
            app.call_from_thread(app.notify, message, title="Error", severity="error", timeout=10)
        return
    app.notify(message, title="Error", severity="error", timeout=10)


def reporting(method: Method) -> Method:
    """Wrap a DOM node's method (plain or async) so that an exception becomes a notification."""
    if inspect.iscoroutinefunction(method):
        @functools.wraps(method)
        async def async_wrapper(self: DOMNode, *args: Any, **kwargs: Any) -> Any:
            try:
                return await method(self, *args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - shown to the user instead of crashing the app
                report_error(self.app, exc)
                return None

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(method)
    def wrapper(self: DOMNode, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - shown to the user instead of crashing the app
            report_error(self.app, exc)
            return None

    return wrapper  # type: ignore[return-value]


def background(*, thread: bool = False, exclusive: bool = False, group: str = "default") -> Callable[[Method], Any]:
    """Like Textual's ``@work``, but a failure is reported to the user and the app goes on."""

    def decorator(method: Method) -> Any:
        return work(reporting(method), thread=thread, exclusive=exclusive, group=group, exit_on_error=False)

    return decorator
