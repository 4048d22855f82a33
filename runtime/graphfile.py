"""Graph files: versioned JSON, read through typed records, written atomically.

See ``docs/graph-format.md``. A file is data only: JSON literals, never pickle, never code.
Reading never raises anything but ``GraphFileError`` (or its ``UnsupportedVersionError``) for a bad
file; a file whose *network* has mistakes (unknown types, bad params, odd wiring) still loads, and
``analyze`` reports the mistakes, so nothing the user made is lost.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .errors import GraphError, GraphFileError, UnsupportedVersionError
from .graph import Graph, valid_id
from .spec import Catalog

FORMAT = "layerloom-graph"
VERSION = 1
SUFFIX = ".llgraph.json"
MAX_FILE_BYTES = 64 * 1024 * 1024
_KNOWN_KEYS = {"format", "version", "name", "description", "nodes", "edges", "training"}

# Upgrades from older versions: MIGRATIONS[v] turns a version-v dict into a version v+1 dict.
MIGRATIONS: dict[int, Callable[[dict], dict]] = {}


@dataclass(frozen=True)
class NodeRecord:
    id: str
    type: str
    name: str
    params: dict
    ui: dict


@dataclass(frozen=True)
class EdgeRecord:
    src: str
    src_port: str
    dst: str
    dst_port: str


# ---------------------------------------------------------------------------- reading
def load_graph(path: str | os.PathLike, catalog: Catalog | None = None) -> Graph:
    path_text = str(path)
    try:
        size = os.path.getsize(path)
        if size > MAX_FILE_BYTES:
            raise GraphFileError(f"the file is {size // 2**20} MiB; graph files are at most "
                                 f"{MAX_FILE_BYTES // 2**20} MiB", path_text)
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise GraphFileError(f"cannot read the file: {exc.strerror or exc}", path_text) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise GraphFileError(f"not UTF-8 text (byte {exc.start}); is this a graph file?", path_text) from None
    return loads_graph(text, catalog, path=path_text)


def loads_graph(text: str, catalog: Catalog | None = None, *, path: str | None = None) -> Graph:
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise GraphFileError(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", path) from None
    except ValueError as exc:
        raise GraphFileError(str(exc), path) from None
    except RecursionError:
        raise GraphFileError("the JSON is nested too deeply", path) from None
    return graph_from_dict(data, catalog, path=path)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number; graph files hold finite numbers only")


def graph_from_dict(data: Any, catalog: Catalog | None = None, *, path: str | None = None) -> Graph:
    """Build a graph from parsed JSON, upgrading older versions first."""
    data = _upgrade(_check_header(data, path), path)
    nodes = _node_records(data.get("nodes"), path)
    edges = _edge_records(data.get("edges", []), {n.id for n in nodes}, path)
    graph = Graph(catalog, name=_text(data, "name", "untitled", path))
    graph.description = _text(data, "description", "", path)
    training = data.get("training", {})
    if not isinstance(training, dict):
        raise GraphFileError("must be an object", path, "training")
    graph.training = training
    graph.extra = {k: v for k, v in data.items() if k not in _KNOWN_KEYS}
    try:
        for record in nodes:
            graph.add_node(record.type, record.name, record.params, node_id=record.id, ui=record.ui, check=False)
        for record in edges:
            graph.connect(record.src, record.src_port, record.dst, record.dst_port, check=False)
    except GraphError as exc:  # pragma: no cover - records are checked above; kept as a safety net
        raise GraphFileError(str(exc), path) from None
    graph._counter = len(nodes)
    return graph


def _check_header(data: Any, path: str | None) -> dict:
    if not isinstance(data, dict):
        raise GraphFileError(f"expected a JSON object at the top level, found {_json_type(data)}", path)
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


def _node_records(raw: Any, path: str | None) -> list[NodeRecord]:
    if raw is None:
        raise GraphFileError('missing "nodes" list', path, "nodes")
    if not isinstance(raw, list):
        raise GraphFileError(f"must be a list, found {_json_type(raw)}", path, "nodes")
    records, seen = [], set()
    for i, item in enumerate(raw):
        where = f"nodes[{i}]"
        if not isinstance(item, dict):
            raise GraphFileError(f"must be an object, found {_json_type(item)}", path, where)
        node_id = item.get("id")
        if not valid_id(node_id):
            raise GraphFileError(f"invalid id {node_id!r}: use letters, digits, '_' or '-' (at most 64, "
                                 "starting with a letter)", path, f"{where}.id")
        if node_id in seen:
            raise GraphFileError(f"duplicate node id {node_id!r}", path, f"{where}.id")
        seen.add(node_id)
        type_id = item.get("type")
        if not isinstance(type_id, str) or not type_id or len(type_id) > 200:
            raise GraphFileError("must be a node type name such as \"Linear\"", path, f"{where}.type")
        name = item.get("name", node_id)
        if not isinstance(name, str) or not name.strip() or len(name) > 64:
            raise GraphFileError("must be non-empty text of at most 64 characters", path, f"{where}.name")
        params = item.get("params", {})
        if not isinstance(params, dict):
            raise GraphFileError(f"must be an object, found {_json_type(params)}", path, f"{where}.params")
        ui = item.get("ui", {})
        if not isinstance(ui, dict):
            raise GraphFileError(f"must be an object, found {_json_type(ui)}", path, f"{where}.ui")
        records.append(NodeRecord(node_id, type_id, name.strip(), params, ui))
    return records


def _edge_records(raw: Any, node_ids: set[str], path: str | None) -> list[EdgeRecord]:
    if not isinstance(raw, list):
        raise GraphFileError(f"must be a list, found {_json_type(raw)}", path, "edges")
    records = []
    for i, item in enumerate(raw):
        where = f"edges[{i}]"
        if not isinstance(item, dict):
            raise GraphFileError(f"must be an object, found {_json_type(item)}", path, where)
        ends = []
        for key in ("from", "to"):
            end = item.get(key)
            if (not isinstance(end, list) or len(end) != 2
                    or not all(isinstance(part, str) and part for part in end)):
                raise GraphFileError('must be ["node id", "port name"]', path, f"{where}.{key}")
            if end[0] not in node_ids:
                raise GraphFileError(f"no node with id {end[0]!r}", path, f"{where}.{key}")
            ends.append(end)
        records.append(EdgeRecord(ends[0][0], ends[0][1], ends[1][0], ends[1][1]))
    return records


def _text(data: dict, key: str, default: str, path: str | None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise GraphFileError(f"must be text, found {_json_type(value)}", path, key)
    return value


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null",
             int: "a number", float: "a number"}
    return names.get(type(value), type(value).__name__)


# ---------------------------------------------------------------------------- writing
def graph_to_dict(graph: Graph) -> dict:
    data: dict[str, Any] = {"format": FORMAT, "version": VERSION, "name": graph.name}
    if graph.description:
        data["description"] = graph.description
    data["nodes"] = [
        _node_dict(node) for node in graph
    ]
    data["edges"] = [{"from": [e.src, e.src_port], "to": [e.dst, e.dst_port]} for e in graph.edges]
    if graph.training:
        data["training"] = graph.training
    for key, value in graph.extra.items():
        data.setdefault(key, value)
    return data


def _node_dict(node) -> dict:
    item = {"id": node.id, "type": node.type_id, "name": node.name, "params": node.params}
    if node.ui:
        item["ui"] = node.ui
    return item


def dumps_graph(graph: Graph) -> str:
    """Pretty JSON for readable diffs: containers that fit on a line stay on one line."""
    try:
        return _pretty(graph_to_dict(graph), 0) + "\n"
    except (TypeError, ValueError, RecursionError) as exc:
        raise GraphFileError(f"the graph holds a value that JSON cannot store: {exc}") from None


_COMPACT = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(", ", ": "))


def _pretty(value: Any, indent: int, width: int = 100) -> str:
    # Containers with many entries never fit on a line: expand them without trying.
    if not isinstance(value, (dict, list)) or len(value) <= 12:
        compact = _COMPACT.encode(value)
        if not isinstance(value, (dict, list)) or len(compact) + indent <= width or not value:
            return compact
    pad = " " * (indent + 2)
    if isinstance(value, list):
        items = [pad + _pretty(item, indent + 2, width) for item in value]
        return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"
    items = [f"{pad}{_COMPACT.encode(str(k))}: {_pretty(v, indent + 2, width).lstrip()}"
             for k, v in value.items()]
    return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"


def save_graph(graph: Graph, path: str | os.PathLike) -> Path:
    """Write atomically: a temporary file in the same folder, flushed to disk, then renamed over
    ``path``. A crash or a full disk leaves the previous file intact."""
    text = dumps_graph(graph)
    atomic_write_text(path, text)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    try:
        mode = os.stat(target).st_mode & 0o777 if target.exists() else None
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise GraphFileError(f"cannot write here: {exc.strerror or exc}", str(target)) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise GraphFileError(f"cannot save: {exc.strerror or exc}", str(target)) from None
        raise
