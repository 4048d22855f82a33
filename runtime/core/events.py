"""Plain-Python change notifications (no Qt): the editor subscribes, the runtime never waits on them."""

from __future__ import annotations

from typing import Any, Callable


class Event:
    """A list of callbacks called in subscription order with the emitted arguments.

    ``subscribe`` returns the callback so it can be used as a decorator; ``unsubscribe`` removes it.
    A callback that raises does not stop the others: the first exception is re-raised after all ran,
    so one broken listener cannot leave the rest of the UI out of date.
    """

    __slots__ = ("name", "_subscribers")

    def __init__(self, name: str = ""):
        self.name = name
        self._subscribers: list[Callable[..., Any]] = []

    def subscribe(self, callback: Callable[..., Any]) -> Callable[..., Any]:
        self._subscribers.append(callback)
        return callback

    def unsubscribe(self, callback: Callable[..., Any]) -> None:
        try:
            self._subscribers.remove(callback)
        except ValueError:
            pass

    def emit(self, *args: Any) -> None:
        if not self._subscribers:
            return
        error: BaseException | None = None
        for callback in tuple(self._subscribers):
            try:
                callback(*args)
            except Exception as exc:  # noqa: BLE001 - re-raised below
                if error is None:
                    error = exc
        if error is not None:
            raise error

    def __len__(self) -> int:
        return len(self._subscribers)

    def __repr__(self) -> str:
        return f"Event({self.name!r}, {len(self._subscribers)} subscribers)"
