"""The project's own exceptions. Every error a user can cause derives from LayerLoomError."""

from __future__ import annotations


class LayerLoomError(Exception):
    """Base class for errors caused by user input (files, graphs, parameters)."""


class GraphError(LayerLoomError):
    """An operation on a graph that cannot be carried out (unknown node, refused connection...)."""


class ConnectionRefused(GraphError):
    """A connection that would break the graph; ``reason`` says why in words."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ParamError(LayerLoomError):
    """A parameter value of the wrong type or out of range."""

    def __init__(self, param: str, message: str):
        super().__init__(f"{param}: {message}")
        self.param = param
        self.detail = message


class ShapeError(LayerLoomError):
    """A node cannot accept the shapes it receives. ``port`` names the offending input and ``param``
    the parameter to change, when there is one."""

    def __init__(self, message: str, port: str | None = None, param: str | None = None):
        super().__init__(message)
        self.port = port
        self.param = param


class LocatedError(LayerLoomError):
    """An error about a file: ``path`` names it, ``location`` points into it (``nodes[3].params``,
    ``line 5, column 'age'``, an array or a settings key); ``detail`` is the bare message."""

    def __init__(self, message: str, path: str | None = None, location: str | None = None):
        self.path = path
        self.location = location
        self.detail = message
        where = ""
        if path:
            where += f"{path}: "
        if location:
            where += f"{location}: "
        super().__init__(where + message)


class GraphFileError(LocatedError):
    """A graph file that cannot be read or written."""


class UnsupportedVersionError(GraphFileError):
    """The file declares a format version this build cannot read."""

    def __init__(self, version, supported: int, path: str | None = None):
        self.version = version
        self.supported = supported
        readable = "version 1" if supported == 1 else f"versions 1 to {supported}"
        if isinstance(version, int) and not isinstance(version, bool) and version > supported:
            msg = (f"format version {version} was written by a newer LayerLoom; "
                   f"this build reads {readable}. Update LayerLoom to open it.")
        else:
            msg = f"unsupported format version {version!r}; this build reads {readable}"
        super().__init__(msg, path=path, location="version")


class CompileError(LayerLoomError):
    """The graph has problems that prevent compiling it; ``problems`` lists them."""

    def __init__(self, problems):
        self.problems = list(problems)
        lines = [p.describe() for p in self.problems]
        super().__init__("the graph cannot be compiled:\n  " + "\n  ".join(lines))
