"""Blocks: reusable subgraphs with named inputs, outputs and params, placed as ``Block:<name>`` nodes.

A block is defined per graph (``graph.blocks``, saved under the file's top-level ``"blocks"``). Its
inside is an ordinary graph whose Input nodes are the block's inputs and whose Output nodes are its
outputs (matched by node name); inner params may be a whole-value reference ``"$channels"`` to a
block param. An instance analyses a concrete copy of the inside (references substituted, Inputs
shaped like what arrives) and compiles it to a nested ``GraphModule``, so the outer model reads
``res1.conv1``; ``repeat`` > 1 chains copies in an ``nn.Sequential`` (``stack.0.conv1``).

What lives where (every public name is importable from here):

- ``definition``: ``BlockDef`` and its plain-dict record, type names, block param records, cycles.
- ``expansion``: the one hook an instance expands through (``BlockSpec.expand``), shared by shape
  inference, parameter counts and the compiler, computed once per edit; ``expansion_stats``.
- ``editing``: define, install, remove and update blocks through the graph; library import plans.
- ``grouping``: group nodes into a block and ungroup an instance (planned as ``BlockEdit``).

Block library files are read and written by ``layerloom.files.block_library``; the compiler builds an
instance from its expansion (``layerloom.compiler``). Imports only the model, catalog and core layers.
"""

from layerloom.model.blocks.definition import (CATEGORY, MAX_REPEAT, NAME_RE, PREFIX, REPEAT, BlockDef, BlockError,
                                               block_name, blocks_from_dict, check_param_records, find_cycle,
                                               inner_graph, nested_blocks, owning_block, param_from_record, param_kind,
                                               param_record, references, type_id)
from layerloom.model.blocks.editing import (check_removable, define_block, import_plan, install_block, instance_wires,
                                            remove_block, update_block)
from layerloom.model.blocks.expansion import (BlockSpec, Expansion, ExpansionStats, block_spec, concrete_graph, expand,
                                              expansion_stats, preview_analysis, substitute)
from layerloom.model.blocks.grouping import BlockEdit, group_nodes, plan_group, plan_ungroup, ungroup

__all__ = [
    "CATEGORY", "MAX_REPEAT", "NAME_RE", "PREFIX", "REPEAT", "BlockDef", "BlockError", "block_name",
    "blocks_from_dict", "check_param_records", "find_cycle", "inner_graph", "nested_blocks", "owning_block",
    "param_from_record", "param_kind", "param_record", "references", "type_id",
    "check_removable", "define_block", "import_plan", "install_block", "instance_wires", "remove_block", "update_block",
    "BlockSpec", "Expansion", "ExpansionStats", "block_spec", "concrete_graph", "expand", "expansion_stats",
    "preview_analysis", "substitute",
    "BlockEdit", "group_nodes", "plan_group", "plan_ungroup", "ungroup",
]
