"""Block library files (``*.llblocks.json``): a graph's blocks saved on their own, to reuse in other graphs.

A library is ``{"format": "layerloom-blocks", "version": 1, "blocks": {name: record}}``, each record
the one a graph file holds under its ``"blocks"`` (``layerloom.model.blocks.BlockDef``). It is read
with the checks every graph file gets (``layerloom.files.graphfile``: a regular file, a size limit,
UTF-8, finite JSON numbers, bounded nesting) and written atomically in the same layout. Adding a
library's blocks to a graph is planned by ``layerloom.model.blocks.import_plan``.
"""

from __future__ import annotations

import os

from layerloom.core.errors import GraphFileError, UnsupportedVersionError
from layerloom.files.graphfile import atomic_write_text, check_depth, dumps_document, parse_json, read_file_text
from layerloom.model.blocks import BlockDef, blocks_from_dict
from layerloom.model.graph import Graph

LIBRARY_FORMAT = "layerloom-blocks"
LIBRARY_VERSION = 1
LIBRARY_SUFFIX = ".llblocks.json"


def dumps_block_library(blocks: dict[str, BlockDef]) -> str:
    data = {"format": LIBRARY_FORMAT, "version": LIBRARY_VERSION,
            "blocks": {name: block.document() for name, block in blocks.items()}}
    return dumps_document(data)


def save_block_library(path: str | os.PathLike, blocks: dict[str, BlockDef]) -> None:
    """Write ``blocks`` as a block library (JSON, atomically)."""
    atomic_write_text(path, dumps_block_library(blocks))


def load_block_library(path: str | os.PathLike, catalog=None) -> dict[str, BlockDef]:
    """The blocks of a library file; add them to a graph with ``graph.define_block(name, block)`` (or
    ``import_plan``). Raises only ``GraphFileError`` (or its ``UnsupportedVersionError``)."""
    data = parse_json(read_file_text(path, "the block library"), str(path))
    if not isinstance(data, dict) or data.get("format") != LIBRARY_FORMAT:
        raise GraphFileError(f'not a LayerLoom block library (no "format": "{LIBRARY_FORMAT}")', str(path), "format")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= LIBRARY_VERSION:
        raise UnsupportedVersionError(version, LIBRARY_VERSION, str(path))
    check_depth(data, str(path))
    holder = Graph(catalog, name="library")
    holder.blocks.update(blocks_from_dict(data.get("blocks", {}), holder, str(path)))
    return holder.blocks
