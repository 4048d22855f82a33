"""The editor on a real X server, reporting what the ports show while the test holds a wire.

    python tests/xvfb_guides_app.py WORKDIR

Like ``xvfb_app.py`` (the digits MLP in a window at a fixed place; ``WORKDIR/ready.json`` holds the
screen point of every port, keyed ``node.port.direction``, of the Dropout palette entry and of every
wire's middle), and on top: each time the test touches ``WORKDIR/snap``, this process writes every port's
guide and tooltip, the note beside the cursor, the wire a dragged node would go into and the graph's wires
to ``WORKDIR/snapN.json`` (N counting from 1), so a test can look in the middle of a real xdotool drag.
Touching ``WORKDIR/quit`` ends it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from xvfb_app import open_window, screen_points, serve, write_whole


def main(workdir: Path) -> int:
    app, window = open_window(workdir)
    snaps = [0]

    def ports():
        for nid, item in window.document.scene.item_for_node.items():
            for direction, group in (("in", item.inputs), ("out", item.outputs)):
                for name, port in group.items():
                    yield f"{nid}.{name}.{direction}", port

    def ready() -> None:
        points = screen_points(app, window)
        write_whole(workdir / "ready.json", {"port": points["port"], "palette": points["palette"]["Dropout"],
                                             "wire": points["wire"]})

    def poll() -> None:
        snap = workdir / "snap"
        if snap.exists():
            snap.unlink()
            snaps[0] += 1
            hint = window.document.scene.wire_hint
            target = window.document.scene.insert_target
            glow = target.glow
            write_whole(workdir / f"snap{snaps[0]}.json", {
                "guides": {key: [port.guide, port.toolTip(), port.opacity()] for key, port in ports()},
                "hint": hint.text if hint.isVisible() else None,
                "insert": None if glow is None else {
                    "wire": f"{target.edge_item.edge.src}->{target.edge_item.edge.dst}",
                    "refused": glow.toolTip()},
                "edges": sorted(f"{e.src}->{e.dst}" for e in window.document.graph.edges)})
        if (workdir / "quit").exists():
            window.document.undo_stack.setClean()
            app.quit()

    return serve(app, ready, poll)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
