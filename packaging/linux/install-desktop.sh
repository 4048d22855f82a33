#!/bin/sh
# Install LayerLoom's desktop integration: the launcher (.desktop), the icons, the MIME type of
# *.llgraph.json graph files and the AppStream metadata. Per user by default:
#
#   packaging/linux/install-desktop.sh                       # into ~/.local/share (XDG_DATA_HOME)
#   packaging/linux/install-desktop.sh --exec /opt/LayerLoom/layerloom   # launch a bundle there
#   sudo PREFIX=/usr/local packaging/linux/install-desktop.sh           # for everyone: /usr/local/share
#   packaging/linux/install-desktop.sh --uninstall
#
# The launcher runs what --exec names; else, when this script lies in a bundle (LayerLoom/linux/),
# that bundle's program; else `layerloom` when it is on PATH (pip install, a venv); else the bundle
# built by `make bundle` in this checkout (dist/LayerLoom/layerloom).
set -eu

APP_ID=io.github.layerloom.LayerLoom
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
if [ -n "${PREFIX:-}" ]; then
    DATA="$PREFIX/share"
else
    DATA="${XDG_DATA_HOME:-$HOME/.local/share}"
fi
EXEC=""
UNINSTALL=0

usage() { sed -n '2,13s/^# \{0,1\}//p' "$0"; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --exec) [ $# -ge 2 ] || usage 2; EXEC=$2; shift 2 ;;
        --exec=*) EXEC=${1#--exec=}; shift ;;
        --data-dir) [ $# -ge 2 ] || usage 2; DATA=$2; shift 2 ;;
        --uninstall) UNINSTALL=1; shift ;;
        -h|--help) usage 0 ;;
        *) echo "install-desktop.sh: unknown option $1" >&2; usage 2 ;;
    esac
done

SIZES="16 24 32 48 64 128 256 512"
DESKTOP="$DATA/applications/$APP_ID.desktop"
MIME_XML="$DATA/mime/packages/layerloom.xml"
METAINFO="$DATA/metainfo/$APP_ID.metainfo.xml"

refresh() {   # the caches desktops read; each tool is optional
    if command -v update-mime-database >/dev/null 2>&1; then update-mime-database "$DATA/mime"; fi
    if command -v update-desktop-database >/dev/null 2>&1; then update-desktop-database -q "$DATA/applications"; fi
    if command -v gtk-update-icon-cache >/dev/null 2>&1 && [ -f "$DATA/icons/hicolor/index.theme" ]; then
        gtk-update-icon-cache -q -t -f "$DATA/icons/hicolor" || true
    fi
    return 0
}

if [ "$UNINSTALL" = 1 ]; then
    rm -f "$DESKTOP" "$MIME_XML" "$METAINFO" "$DATA/icons/hicolor/scalable/apps/$APP_ID.svg"
    for size in $SIZES; do rm -f "$DATA/icons/hicolor/${size}x${size}/apps/$APP_ID.png"; done
    mkdir -p "$DATA/mime/packages" "$DATA/applications"
    refresh
    echo "install-desktop.sh: removed LayerLoom's desktop integration from $DATA"
    exit 0
fi

if [ -z "$EXEC" ]; then
    if [ -x "$HERE/../layerloom" ] && [ -f "$HERE/../layerloom" ]; then
        EXEC=$(cd "$HERE/.." && pwd)/layerloom
    elif command -v layerloom >/dev/null 2>&1; then
        EXEC=layerloom
    elif [ -x "$REPO/dist/LayerLoom/layerloom" ]; then
        EXEC="$REPO/dist/LayerLoom/layerloom"
    else
        EXEC=layerloom
        echo "install-desktop.sh: warning: no layerloom on PATH and no bundle in $REPO/dist; the launcher" \
             "runs \`layerloom\` (give --exec PATH to name the program)" >&2
    fi
fi
case "$EXEC" in
    *" "*) EXEC_FIELD="\"$EXEC\"" ;;   # the Desktop Entry spec: an argument with spaces is quoted
    *) EXEC_FIELD=$EXEC ;;
esac

mkdir -p "$DATA/applications" "$DATA/mime/packages" "$DATA/metainfo" "$DATA/icons/hicolor/scalable/apps"
sed -e "s|^Exec=layerloom |Exec=$EXEC_FIELD |" -e "s|^TryExec=layerloom\$|TryExec=$EXEC|" \
    "$HERE/$APP_ID.desktop" > "$DESKTOP"
chmod 644 "$DESKTOP"
cp "$HERE/layerloom.xml" "$MIME_XML"
cp "$HERE/$APP_ID.metainfo.xml" "$METAINFO"
cp "$HERE/icons/hicolor/scalable/apps/$APP_ID.svg" "$DATA/icons/hicolor/scalable/apps/"
for size in $SIZES; do
    mkdir -p "$DATA/icons/hicolor/${size}x${size}/apps"
    cp "$HERE/icons/hicolor/${size}x${size}/apps/$APP_ID.png" "$DATA/icons/hicolor/${size}x${size}/apps/"
done
refresh
echo "install-desktop.sh: installed LayerLoom into $DATA (launcher runs: $EXEC)"
