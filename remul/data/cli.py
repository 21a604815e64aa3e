"""``remul data``: fetch datasets into the cache, verified against pinned checksums."""

from __future__ import annotations

import sys


def _cmd_data(args) -> int:
    from remul.data.fetch import DataError, cache_dir, fetch_dataset, is_cached
    from remul.data.registry import DATASETS

    cache = cache_dir(args.cache)
    if args.list:
        for name, files in DATASETS.items():
            state = "cached" if is_cached(name, cache) else "-"
            pinned = sum(f.sha256 is not None for f in files)
            print(f"{name:22s} {len(files):3d} files ({pinned} sha256-pinned)  {state}")
            if args.verbose:
                for f in files:
                    print(f"    {f.path}  {f.url}  sha256={f.sha256 or 'not pinned'}")
        print(f"cache: {cache}")
        return 0
    explicit = bool(args.datasets)
    names = args.datasets or list(DATASETS)
    unknown = [n for n in names if n not in DATASETS]
    if unknown:
        raise ValueError(f"dataset: unknown {unknown}; allowed: {list(DATASETS)}")
    failed = 0
    for name in names:
        try:
            fetch_dataset(name, source=args.source, cache=cache, force=args.force,
                          log=lambda m: print(m, file=sys.stderr))
            print(f"{name}: ok")
        except DataError as err:
            # Without explicit names, a missing MD17 trajectory (not kept in --from folders
            # such as ../shared/data) is reported but is not a failure; a bad file always is.
            missing = "missing file" in str(err)
            print(f"{name}: {'missing' if missing else 'FAILED'}: {err}", file=sys.stderr)
            if explicit or not missing:
                failed += 1
    print(f"cache: {cache}")
    return 1 if failed else 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "data",
        help="fetch datasets (CMU mocap, MD17) into the cache, checking pinned sha256",
        description="Fetch datasets from their public sources (or --from a local folder), "
        "verify every file, and cache them ($REMUL_DATA_DIR, default ~/.cache/remul).",
    )
    p.add_argument("datasets", nargs="*", help="dataset names (default: all); see --list")
    p.add_argument("--from", dest="source", metavar="DIR",
                   help="take the files from this folder (same layout, e.g. ../shared/data)")
    p.add_argument("--cache", help="cache folder (default: $REMUL_DATA_DIR or ~/.cache/remul)")
    p.add_argument("--list", action="store_true", help="list datasets and whether cached")
    p.add_argument("--verbose", "-v", action="store_true", help="with --list: every file")
    p.add_argument("--force", action="store_true", help="re-fetch files already cached")
    p.set_defaults(func=_cmd_data)
