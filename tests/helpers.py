"""Small builders shared by the tests."""

from __future__ import annotations

from layerloom import Graph


def chain(graph: Graph, *nodes):
    """Wire each node's first output to the next node's first input."""
    for a, b in zip(nodes, nodes[1:]):
        graph.connect(a.id, graph.output_ports(a.id)[0].name, b.id, graph.input_ports(b.id)[0].name)
    return nodes[-1]


def add(graph: Graph, type_id: str, name: str, **params):
    return graph.add_node(type_id, name, params, node_id=name)


def mlp_graph(hidden: int = 32, classes: int = 10, features: int = 64, with_loss: bool = True) -> Graph:
    g = Graph(name="mlp")
    x = add(g, "Input", "image", shape=[features])
    fc1 = add(g, "Linear", "fc1", out_features=hidden)
    act = add(g, "ReLU", "relu1")
    fc2 = add(g, "Linear", "fc2", out_features=classes)
    out = add(g, "Output", "logits")
    chain(g, x, fc1, act, fc2, out)
    if with_loss:
        t = add(g, "Target", "label")
        loss = add(g, "CrossEntropyLoss", "loss")
        g.connect("fc2", "out", "loss", "pred")
        g.connect(t.id, "out", "loss", "target")
    return g


def residual_def() -> dict:
    """x -> conv1 -> relu -> conv2 -> (+ x), with ``channels`` used by both convolutions."""
    conv = {"out_channels": "$channels", "kernel_size": 3, "padding": 1}
    return {
        "doc": "Two 3x3 convolutions with a skip connection",
        "inputs": ["x"], "outputs": ["y"],
        "params": [{"name": "channels", "kind": "int", "default": 16, "minimum": 1}],
        "nodes": [
            {"id": "x", "type": "Input", "name": "x", "params": {"shape": [16, 8, 8]}},
            {"id": "conv1", "type": "Conv2d", "name": "conv1", "params": conv},
            {"id": "relu", "type": "ReLU", "name": "relu", "params": {}},
            {"id": "conv2", "type": "Conv2d", "name": "conv2", "params": conv},
            {"id": "add", "type": "Add", "name": "add", "params": {}},
            {"id": "y", "type": "Output", "name": "y", "params": {}},
        ],
        "edges": [
            {"from": ["x", "out"], "to": ["conv1", "in"]},
            {"from": ["conv1", "out"], "to": ["relu", "in"]},
            {"from": ["relu", "out"], "to": ["conv2", "in"]},
            {"from": ["conv2", "out"], "to": ["add", "in1"]},
            {"from": ["x", "out"], "to": ["add", "in2"]},
            {"from": ["add", "out"], "to": ["y", "in"]},
        ],
    }


def nested_blocks_graph(depth: int, width: int = 4) -> Graph:
    """An Input, one instance (``block``) of block ``L<depth>`` and an Output. ``L1`` is Linear -> ReLU;
    ``L<k>`` is Linear -> ReLU -> ``L<k-1>``: the model holds ``depth`` Linear layers of ``width``."""
    g = Graph(name=f"nested{depth}")
    for level in range(1, depth + 1):
        nodes = [{"id": "x", "type": "Input", "name": "x", "params": {"shape": [width]}},
                 {"id": "fc", "type": "Linear", "name": "fc", "params": {"out_features": width}},
                 {"id": "act", "type": "ReLU", "name": "act", "params": {}},
                 {"id": "y", "type": "Output", "name": "y", "params": {}}]
        edges = [{"from": ["x", "out"], "to": ["fc", "in"]}, {"from": ["fc", "out"], "to": ["act", "in"]}]
        if level == 1:
            edges.append({"from": ["act", "out"], "to": ["y", "in"]})
        else:
            nodes.append({"id": "inner", "type": f"Block:L{level - 1}", "name": "inner", "params": {}})
            edges += [{"from": ["act", "out"], "to": ["inner", "x"]}, {"from": ["inner", "y"], "to": ["y", "in"]}]
        g.define_block(f"L{level}", {"inputs": ["x"], "outputs": ["y"], "nodes": nodes, "edges": edges})
    x = add(g, "Input", "x", shape=[width])
    block = g.add_node(f"Block:L{depth}", "block", node_id="block")
    chain(g, x, block, add(g, "Output", "out"))
    return g
