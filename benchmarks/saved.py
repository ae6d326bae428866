"""The command line every benchmark shares: run and keep the raw result as JSON (``--out``), or
print the markdown table of a saved result (``--table``) without running anything."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path


def parser_for(doc: str) -> argparse.ArgumentParser:
    """A parser described by the module docstring's first line, with ``--out`` and ``--table``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the raw result here (JSON)")
    parser.add_argument("--table", type=Path, help="print the table of this saved result and stop")
    return parser


def run_or_table(args: argparse.Namespace, run: Callable[[], dict], markdown: Callable[[dict], str]) -> None:
    """``--table``: print a saved result's table; else run, save to ``--out`` and print the table."""
    if args.table:
        print(markdown(json.loads(args.table.read_text())))
        return
    result = run()
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    print(markdown(result))
