"""``layerloom-cli download NAME``: fetch a downloadable built-in dataset (MNIST, CIFAR-10...) into the cache.

A text progress bar over the whole set; every file's SHA-256 is checked. Exit status: 0 on disk
(downloaded now or before), 1 the download failed (the message names the URLs and the folder to put
the files into by hand), 130 interrupted (Ctrl-C: what arrived is kept, the next ``download`` continues).
"""

from __future__ import annotations

import sys

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


def add_parsers(sub) -> None:
    from layerloom.data import BUILTINS

    names = [name for name, info in BUILTINS.items() if info.files]
    download = sub.add_parser(
        "download", help="download a built-in dataset (MNIST, CIFAR-10...) for later, offline use",
        description="Download the files of a built-in dataset into LayerLoom's data folder (set "
                    "LAYERLOOM_DATA_DIR to use another), checking each file's SHA-256. Training and the "
                    "window read them from there without the network. Datasets: " + ", ".join(names) + ".")
    download.add_argument("name", choices=names, metavar="NAME", help="one of: " + ", ".join(names))
    download.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                          help="give up when the server is silent this long (default: 30)")
    download.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    download.set_defaults(run=cmd_download)


def cmd_download(args) -> int:
    from layerloom.data import BUILTINS
    from layerloom.data.downloads import DownloadFailed, dataset_folder, download, missing_files, size_text

    info = BUILTINS[args.name]
    missing = missing_files(info)
    if not missing:
        print(f"{info.short_title} is already on disk: {dataset_folder(info.name)}")
        return EXIT_OK
    size = sum(f.size for f in missing)
    hosts = sorted({f.url.split("/")[2] for f in missing})
    print(f"downloading {info.short_title}: {size_text(size)} from {', '.join(hosts)} into {dataset_folder(info.name)}")
    bar = _bar(info.download_size, args.quiet)
    try:
        folder = download(info, progress=lambda done, total: bar.update(done - bar.n), timeout=args.timeout)
    except DownloadFailed as exc:
        bar.close()
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        bar.close()
        print("interrupted: what arrived is kept; run the same command again to continue", file=sys.stderr)
        return EXIT_INTERRUPTED
    bar.close()
    print(f"{info.short_title} is on disk: {folder} (checked: SHA-256 of every file)")
    return EXIT_OK


def _bar(total: int, quiet: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, dynamic_ncols=True, leave=False,
                disable=True if quiet else None, file=sys.stderr)
