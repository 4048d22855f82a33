"""Graph files: versioned JSON, read through typed records, written atomically.

See ``docs/graph-format.md``. A file is data only: JSON literals, never pickle, never code.
Reading never raises anything but ``GraphFileError`` (or its ``UnsupportedVersionError``) for a bad
file; a file whose *network* has mistakes (unknown types, bad params, odd wiring) still loads, and
``analyze`` reports the mistakes, so nothing the user made is lost. A node record's ``"trainable"``
(false: frozen while fine-tuning) must be true or false; ``layerloom.model.records`` checks it.
"""

from __future__ import annotations

import copy
import json
import math
import os
from pathlib import Path
from typing import Any, Callable

from layerloom.core.atomic import atomic_write
from layerloom.core.errors import GraphError, GraphFileError, UnsupportedVersionError
from layerloom.core.fileio import NotRegularFile, check_regular, open_regular
from layerloom.catalog.spec import Catalog
from layerloom.model.blocks import blocks_from_dict
from layerloom.model.graph import Graph
from layerloom.model.elements import TRAINABLE
from layerloom.model.records import edge_dict, json_type, node_dict, nodes_and_edges, value_or

FORMAT = "layerloom-graph"
VERSION = 1
SUFFIX = ".llgraph.json"
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 32  # nesting of params/ui/training values; deeper is never a real network
_KNOWN_KEYS = {"format", "version", "name", "description", "nodes", "edges", "blocks", "training"}

# Upgrades from older versions: MIGRATIONS[v] turns a version-v dict into a version v+1 dict.
MIGRATIONS: dict[int, Callable[[dict], dict]] = {}



# ---------------------------------------------------------------------------- reading
def load_graph(path: str | os.PathLike, catalog: Catalog | None = None) -> Graph:
    return loads_graph(read_file_text(path, "the file"), catalog, path=str(path))


def read_file_text(path: str | os.PathLike, what: str = "the file") -> str:
    """The text of a graph (or block library) file, read with the checks every such file gets: a
    regular file (a FIFO would block the reader forever, /dev/zero never ends), at most
    ``MAX_FILE_BYTES``, UTF-8. Raises only ``GraphFileError`` naming ``path``."""
    path_text = str(path)
    try:
        size = check_regular(path).st_size   # before opening: a FIFO is named, not waited on
        if size > MAX_FILE_BYTES:
            raise GraphFileError(_too_large(size), path_text)
        with open_regular(path) as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except NotRegularFile as exc:
        raise GraphFileError(f"cannot read {what}: {exc}", path_text) from None
    except OSError as exc:
        raise GraphFileError(f"cannot read {what}: {exc.strerror or exc}", path_text) from None
    except ValueError as exc:  # e.g. a NUL character in the path
        raise GraphFileError(f"cannot read {what}: {exc}", path_text) from None
    if len(raw) > MAX_FILE_BYTES:
        raise GraphFileError(_too_large(len(raw)), path_text)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise GraphFileError(f"not UTF-8 text (byte {exc.start}); is this a graph file?", path_text) from None


def _too_large(size: int) -> str:
    return (f"the file is larger than {MAX_FILE_BYTES / 2**20:g} MiB ({size / 2**20:.1f} MiB); is it a graph file? "
            "(LayerLoom never saves a graph larger than this)")


def loads_graph(text: str, catalog: Catalog | None = None, *, path: str | None = None) -> Graph:
    return _from_dict(parse_json(text, path), catalog, path)


def parse_json(text: str, path: str | None = None) -> Any:
    """JSON as graph files hold it (finite numbers, unique keys); ``GraphFileError`` otherwise."""
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float,
                          object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise GraphFileError(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", path) from None
    except ValueError as exc:  # our hooks, and ints longer than Python converts
        raise GraphFileError(str(exc), path) from None
    except RecursionError:
        raise GraphFileError("the JSON is nested too deeply", path) from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number; graph files hold finite numbers only")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:20]} is too large; graph files hold finite numbers only")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"the key {key!r} appears twice in one object")
            seen.add(key)
    return result


def graph_from_dict(data: Any, catalog: Catalog | None = None, *, path: str | None = None) -> Graph:
    """Build a graph from a parsed JSON document (deep-copied: the graph never shares the caller's
    lists and dicts), upgrading older versions first. Only what a JSON file can hold is accepted (a
    graph stored in a checkpoint may hold anything), so whatever loads can be saved."""
    _check_json_values(data, path)
    try:
        data = copy.deepcopy(data)
    except RecursionError:
        raise GraphFileError("the document is nested too deeply", path) from None
    return _from_dict(data, catalog, path)


def _check_json_values(data: Any, path: str | None) -> None:
    stack = [(data, 0)]
    while stack:
        value, level = stack.pop()
        kind = type(value)
        if kind is dict or kind is list:
            if level > MAX_DEPTH:
                raise GraphFileError(f"values are nested more than {MAX_DEPTH} levels deep", path)
            if kind is dict and not all(type(key) is str for key in value):
                raise GraphFileError("an object has a key that is not text", path)
            stack.extend((item, level + 1) for item in (value.values() if kind is dict else value))
        elif kind is float:
            if not math.isfinite(value):
                raise GraphFileError(f"the number {value} is not finite; graph files hold finite numbers only", path)
        elif kind not in (str, int, bool, type(None)):
            raise GraphFileError(f"holds a {kind.__name__}, which a graph file cannot (only JSON values)", path)


def _from_dict(data: Any, catalog: Catalog | None, path: str | None) -> Graph:
    data = _upgrade(_check_header(data, path), path)
    check_depth(data, path)
    nodes, edges = nodes_and_edges(data, path)
    graph = Graph(catalog, name=_text(data, "name", "untitled", path))
    graph.description = _text(data, "description", "", path)
    training = data.get("training", {})
    if not isinstance(training, dict):
        raise GraphFileError("must be an object", path, "training")
    graph.training = training
    graph.extra = {k: v for k, v in data.items() if k not in _KNOWN_KEYS}
    if "blocks" in data:  # reusable subgraphs (layerloom.model.blocks), read before the nodes using them
        graph.blocks.update(blocks_from_dict(data["blocks"], graph, path))
    try:
        graph.restore(nodes, edges)
    except GraphError as exc:  # pragma: no cover - records are checked above; kept as a safety net
        raise GraphFileError(str(exc), path) from None
    return graph


def _check_header(data: Any, path: str | None) -> dict:
    if not isinstance(data, dict):
        raise GraphFileError(f"expected a JSON object at the top level, found {json_type(data)}", path)
    fmt = data.get("format")
    if fmt != FORMAT:
        if fmt is None:
            raise GraphFileError(f'not a LayerLoom graph file (no "format": "{FORMAT}")', path, "format")
        raise GraphFileError(f"unknown format {fmt!r}; expected {FORMAT!r}", path, "format")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1 or version > VERSION:
        raise UnsupportedVersionError(version, VERSION, path)
    return data


def _upgrade(data: dict, path: str | None) -> dict:
    version = data["version"]
    while version < VERSION:
        try:
            data = MIGRATIONS[version](data)
        except GraphFileError:
            raise
        except Exception as exc:  # noqa: BLE001 - a migration meeting a malformed old file
            raise GraphFileError(f"cannot upgrade from version {version}: {exc}", path) from None
        version += 1
    return data


def check_depth(data: dict, path: str | None) -> None:
    """Refuse absurdly nested values (they would make copying and saving recurse too deeply)."""
    if _depth(data, 0) > MAX_DEPTH:
        raise GraphFileError(f"values are nested more than {MAX_DEPTH} levels deep", path)


def _depth(value: Any, level: int) -> int:
    if level > MAX_DEPTH:
        return level
    deepest = level
    for item in (value.values() if type(value) is dict else value):
        if type(item) is dict or type(item) is list:
            deepest = max(deepest, _depth(item, level + 1))
            if deepest > MAX_DEPTH:
                break
    return deepest


def _text(data: dict, key: str, default: str, path: str | None) -> str:
    value = value_or(data, key, default)
    if not isinstance(value, str):
        raise GraphFileError(f"must be text, found {json_type(value)}", path, key)
    return value


# ---------------------------------------------------------------------------- writing
def graph_to_dict(graph: Graph) -> dict:
    """The graph as a JSON document. It shares nothing with the graph (mutating it changes nothing)."""
    try:
        return copy.deepcopy(_document(graph))
    except RecursionError:
        raise GraphFileError("the graph holds values nested too deeply to save") from None


def _document(graph: Graph) -> dict:
    """The document for writing; it shares lists and dicts with the graph, so it is never handed out."""
    data: dict[str, Any] = {"format": FORMAT, "version": VERSION, "name": graph.name}
    if graph.description:
        data["description"] = graph.description
    data["nodes"] = [node_dict(node) for node in graph]
    data["edges"] = [edge_dict(e, graph.edge_extra(e)) for e in graph.edges]
    if graph.blocks:  # see layerloom.model.blocks
        data["blocks"] = {name: block.document() for name, block in graph.blocks.items()}
    if graph.training:
        data["training"] = graph.training
    for key, value in graph.extra.items():
        data.setdefault(key, value)
    return data


def dumps_graph(graph: Graph) -> str:
    """Pretty JSON for readable diffs: containers that fit on a line stay on one line (see ``dumps_document``)."""
    return dumps_document(_document(graph))


def dumps_document(data: dict) -> str:
    """A graph file's (or block library's) text. The document's frame (nodes, edges, blocks, each
    record, its params and ui) spreads over lines where a line would be too wide; a value inside it is
    laid out the same way while it is small, and written on one compact line when it is large (so
    saving stays linear and a large value takes no more room than compact JSON)."""
    try:
        text = _Writer(ascii=False).write(data, 0, _DOCUMENT) + "\n"
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        # Text JSON can hold but UTF-8 cannot (a lone surrogate from a \\uD800 escape): write
        # everything as ASCII escapes, which reads back exactly.
        return _Writer(ascii=True).write(data, 0, _DOCUMENT) + "\n"
    except (TypeError, ValueError, RecursionError) as exc:
        raise GraphFileError(f"the graph holds a value that JSON cannot store: {exc}") from None


# How a document is laid out. A shape is None (a value: see _Writer.write), ("list", item shape) or
# ("map", {key: shape}, shape of other keys): a container of the document's frame, spread over lines
# whenever it does not fit on one, whatever its size.
_VALUES = ("map", {}, None)                       # params, ui, training: each value on its own line
_EDGES = ("list", None)
_NODE = ("map", {"params": _VALUES, "ui": _VALUES}, None)
_BLOCK = ("map", {"params": ("list", None), "nodes": ("list", _NODE), "edges": _EDGES}, None)
_DOCUMENT = ("map", {"nodes": ("list", _NODE), "edges": _EDGES, "blocks": ("map", {}, _BLOCK),
                     "training": _VALUES}, None)
SMALL_VALUE = 4096  # characters: a value up to this size is laid out for reading, a larger one is one line
WIDTH = 100


class _Writer:
    def __init__(self, ascii: bool):
        self.readable = json.JSONEncoder(ensure_ascii=ascii, allow_nan=False, separators=(", ", ": "))
        self.tight = json.JSONEncoder(ensure_ascii=ascii, allow_nan=False, separators=(",", ":"))

    def write(self, value: Any, indent: int, shape) -> str:
        if not isinstance(value, (dict, list)) or not value:
            return self.readable.encode(value)
        if shape is None and not _within(value, SMALL_VALUE):
            return self.tight.encode(value)  # large: encoded once, on one line
        # Containers with many entries never fit on a line: expand them without trying.
        if len(value) <= 12 and _within(value, WIDTH - indent):
            compact = self.readable.encode(value)
            if len(compact) + indent <= WIDTH:
                return compact
        pad = " " * (indent + 2)
        if isinstance(value, list):
            item_shape = shape[1] if shape else None
            items = [pad + self.write(item, indent + 2, item_shape) for item in value]
            return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"
        children, other = (shape[1], shape[2]) if shape else ({}, None)
        items = [f"{pad}{self.readable.encode(str(k))}: {self.write(v, indent + 2, children.get(k, other))}"
                 for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"


def _within(value: Any, budget: int) -> bool:
    """False when ``value``'s one-line JSON surely takes more than ``budget`` characters; looks at no
    more of it than that (a cheap lower bound: numbers by their repr, strings by their length)."""
    total, stack = 0, [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict or kind is list:
            total += 2 + 2 * max(len(item) - 1, 0)
            if total > budget or len(item) * 3 > budget:
                return False
            if kind is dict:
                for key, child in item.items():
                    total += len(key) + 4 if type(key) is str else 8
                    stack.append(child)
            else:
                stack.extend(item)
        elif kind is str:
            total += len(item) + 2
        elif kind is float:
            total += len(repr(item))
        elif kind is int:
            total += len(str(item)) if -10**15 < item < 10**15 else 16
        else:
            total += 4
        if total > budget:
            return False
    return True


def save_graph(graph: Graph, path: str | os.PathLike) -> Path:
    """Write atomically: a temporary file in the same folder, flushed to disk, then renamed over
    ``path``. A crash or a full disk leaves the previous file intact. A graph is never saved larger
    than ``load_graph`` reads: past the limit the file is written as compact JSON, and refused when
    that is still too large."""
    text = dumps_graph(graph)
    data = text.encode("utf-8")
    if len(data) > MAX_FILE_BYTES:
        try:
            data = json.dumps(_document(graph), ensure_ascii=False, allow_nan=False,
                              separators=(",", ":")).encode("utf-8")
        except UnicodeEncodeError:
            data = json.dumps(_document(graph), allow_nan=False, separators=(",", ":")).encode("utf-8")
    if len(data) > MAX_FILE_BYTES:
        raise GraphFileError(f"cannot save: the graph takes {len(data) / 2**20:.1f} MiB, larger than the "
                             f"{MAX_FILE_BYTES / 2**20:g} MiB LayerLoom opens; {_largest_part(graph)}", str(path))
    _write_bytes(path, data)
    return Path(path)


def _largest_part(graph: Graph) -> str:
    """Where most of a graph's size is, in words (only asked when a save is refused)."""
    parts = [("the training settings", graph.training), ("the file's extra keys", graph.extra)]
    for node in graph:
        parts += [(f"node {node.name!r}'s ui", node.ui), (f"node {node.name!r}'s params", node.params),
                  (f"node {node.name!r}'s extra keys", node.extra)]
    parts += [(f"block {name!r}", block.document()) for name, block in graph.blocks.items()]
    size, where = max((len(json.dumps(value, separators=(",", ":"))), where) for where, value in parts)
    return f"most of it ({size / 2**20:.1f} MiB) is {where}: remove what does not belong there"


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """``text`` as UTF-8, written atomically and durably; ``GraphFileError`` names the file."""
    _write_bytes(path, text.encode("utf-8"))


def _write_bytes(path: str | os.PathLike, data: bytes) -> None:
    try:
        atomic_write(path, data)
    except OSError as exc:
        raise GraphFileError(f"cannot save: {exc.strerror or exc}", str(path)) from None


def same_network(a: Graph, b: Graph) -> bool:
    """Two graphs with the same nodes, parameters, wires and blocks: the weights trained with one fit
    the other. Positions, names, the description, the training settings and which nodes are frozen
    (``"trainable"``) do not count."""
    def network(graph: Graph) -> dict:
        data = graph_to_dict(graph)
        for node in data.get("nodes", []):
            node.pop("ui", None)
            node.pop(TRAINABLE, None)
        for key in ("name", "description", "training"):
            data.pop(key, None)
        return data

    return network(a) == network(b)
