"""ONNX ``LSTM`` and ``GRU`` to the catalog's LSTM and GRU nodes (part of ``onnx_mapping``'s table).

An exporter writes a batch-first recurrent layer as ``Transpose(x, [1, 0, 2])`` (time first), the ``LSTM`` or
``GRU`` operator with zero initial states, and a ``Gather``/``Squeeze`` of the final state (``output="last"``)
or a ``Squeeze`` + ``Transpose`` of the sequence (``output="sequence"``). That pattern becomes one node; the
weights are reordered from ONNX's gate order (LSTM: i, o, f, c; GRU: z, r, h) to PyTorch's (i, f, g, o;
r, z, n). Any other use of these operators is refused by name: LayerLoom has no time-first wires.
"""

from __future__ import annotations

import torch

from layerloom.importers.onnx_mapping import maps
from layerloom.importers.onnx_values import Constant, Wire

TIME_MAJOR = [1, 0, 2]
GATES = {"LSTM": (4, [0, 2, 3, 1]), "GRU": (3, [1, 0, 2])}   # gates, PyTorch's order as ONNX indices


@maps("Transpose", to="nothing before an LSTM or GRU (the time-first view the recurrent node takes itself)")
def _transpose(imp, node) -> bool:
    x = imp.wire(node, 0)
    perm = imp.attributes(node).get("perm")
    reader = imp.sole_consumer(node.output[0])
    if x is None or perm != TIME_MAJOR or x.rank != 3 or reader is None or reader.op_type not in GATES \
            or reader.input[0] != node.output[0] or int(imp.attributes(reader).get("layout", 0)) != 0:
        return False
    imp.alias(node.output[0], Wire(x.node, x.port, x.shape, x.elem, time_major=True))
    imp.record(node, "nothing (part of an LSTM/GRU)")
    return True


def _zeros_or_absent(value) -> bool:
    if value is None:
        return True
    if not isinstance(value, Constant):
        return False
    tensors = value.batched or (value.value,)
    return all(t.numel() == 0 or float(t.abs().max()) == 0.0 for t in tensors)


def _reordered(t: torch.Tensor, gates: int, order: list[int]) -> torch.Tensor:
    chunks = t.chunk(gates, 0)
    return torch.cat([chunks[i] for i in order], 0).float().contiguous()


def _final_state_reader(imp, name: str):
    """The node that takes the last layer's final state out of ``Y_h`` ([directions, N, H]): a Gather of
    index 0 or -1, or a Squeeze of axis 0 (one direction)."""
    reader = imp.sole_consumer(name)
    if reader is None:
        return None
    a = imp.attributes(reader)
    if reader.op_type == "Gather" and int(a.get("axis", 0)) == 0:
        index = imp.const(reader, 1)
        return reader if index is not None and index.numel() == 1 and int(index.reshape(-1)[0]) in (0, -1) else None
    if reader.op_type == "Squeeze":
        axes = a.get("axes")
        if axes is None and len(reader.input) > 1:
            axes = imp.const(reader, 1)
            axes = axes.reshape(-1).tolist() if axes is not None else None
        return reader if axes == [0] else None
    return None


def _sequence_readers(imp, name: str):
    """``Squeeze(Y, axes=[1])`` then ``Transpose(perm=[1, 0, 2])``: the sequence back batch first."""
    squeeze = imp.sole_consumer(name, "Squeeze")
    if squeeze is None:
        return None
    axes = imp.attributes(squeeze).get("axes")
    if axes is None and len(squeeze.input) > 1:
        axes = imp.const(squeeze, 1)
        axes = axes.reshape(-1).tolist() if axes is not None else None
    transpose = imp.sole_consumer(squeeze.output[0], "Transpose")
    if axes != [1] or transpose is None or imp.attributes(transpose).get("perm") != TIME_MAJOR:
        return None
    return squeeze, transpose


def _recurrent(imp, node) -> bool:
    op = node.op_type
    gates, order = GATES[op]
    x = imp.wire(node, 0)
    w, r, b = imp.const(node, 1), imp.const(node, 2), imp.const(node, 3)
    a = imp.attributes(node)
    states = [imp.arg(node, i) for i in range(5, 7 if op == "LSTM" else 6)]
    if x is None or not x.time_major or w is None or r is None or (imp.arg(node, 3) is not None and b is None):
        return False
    if imp.arg(node, 4) is not None or not all(_zeros_or_absent(s) for s in states):
        return False   # sequence lengths, or initial states that are not zeros
    if a.get("direction", "forward") != "forward" or a.get("activations") or a.get("clip") \
            or a.get("input_forget", 0) or (op == "GRU" and not a.get("linear_before_reset", 0)):
        return False
    used = imp.used_outputs(node)
    if used == [1] and _final_state_reader(imp, node.output[1]) is not None:
        output, readers = "last", [_final_state_reader(imp, node.output[1])]
    elif used == [0] and _sequence_readers(imp, node.output[0]) is not None:
        output, readers = "sequence", list(_sequence_readers(imp, node.output[0]))
    else:
        return False
    hidden = int(a.get("hidden_size", r.shape[-1]))
    weights = {"weight_ih_l0": _reordered(w[0], gates, order), "weight_hh_l0": _reordered(r[0], gates, order)}
    if b is not None:
        weights["bias_ih_l0"] = _reordered(b[0, :gates * hidden], gates, order)
        weights["bias_hh_l0"] = _reordered(b[0, gates * hidden:], gates, order)
    params = {"hidden_size": hidden, "num_layers": 1, "bidirectional": False, "output": output,
              "bias": b is not None}
    node_id = imp.add(op, params, imp.hint(node, 1), weights)
    imp.feed(Wire(x.node, x.port, x.shape, x.elem), node_id, "in")
    for reader in readers:
        imp.skip(reader)
        imp.report.record(reader.op_type, f"{op} (its {'final state' if output == 'last' else 'sequence'})")
    imp.produce(readers[-1].output[0], node_id)
    imp.record(node, op, f"output {output}, gates reordered for PyTorch")
    return True


maps("LSTM", to="LSTM (batch first, zero initial states, one direction; its final state or its sequence)")(
    _recurrent)
maps("GRU", to="GRU (as LSTM; linear_before_reset=1, as PyTorch computes it)")(_recurrent)
