"""``reasonir index build|add|delete|derive|info``: write and inspect a persistent index."""

from __future__ import annotations

import argparse
import logging
import sys

from ._common import print_json

#: the commands this module registers, with the one-line help ``reasonir --help`` lists
COMMANDS = {
    "index": "build, grow, prune and inspect a persistent search index",
}


def register(sub: argparse._SubParsersAction) -> None:
    from ..config import add_arguments
    from ..workflows.index import (
        IndexAddConfig,
        IndexBuildConfig,
        IndexDeleteConfig,
        IndexDeriveConfig,
        IndexInfoConfig,
    )

    p = sub.add_parser("index", help=COMMANDS["index"],
                       description="A persistent index: SQLite document store, fp16/fp32 vector shards, optional "
                                   "BM25 and FAISS ANN. Builds resume after interruption.")
    verbs = p.add_subparsers(dest="index_command", metavar="VERB")
    for name, cls, func, text in (
            ("build", IndexBuildConfig, _build, "build an index over a corpus (resumes an interrupted build)"),
            ("add", IndexAddConfig, _add, "add documents to an index"),
            ("delete", IndexDeleteConfig, _delete, "delete documents by id"),
            ("derive", IndexDeriveConfig, _derive,
             "add or rebuild BM25 (--bm25) and ANN (--ann KIND) from the stored texts and vectors, "
             "without re-encoding"),
            ("info", IndexInfoConfig, _info, "show an index's summary (--verify: check checksums)")):
        v = verbs.add_parser(name, help=text, description=text)
        add_arguments(v, cls)
        v.add_argument("--json", action="store_true", help="print the result as one JSON object (last line)")
        v.set_defaults(func=func, config_class=cls)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _report(args: argparse.Namespace, report) -> int:
    summary = {"operation": report.operation, "index": report.index_dir, "rows_added": report.rows_added,
               "deleted": report.deleted, "documents": report.documents, "shards_encoded": report.shards_encoded,
               "shards_reused": report.shards_reused, "seconds": {k: round(v, 3) for k, v in report.seconds.items()},
               "docs_per_second": round(report.docs_per_second, 1), "ann_recall_at_10": report.ann_recall_at_10}
    if args.json:
        print_json(summary)
    elif report.operation == "noop":
        print(f"{report.index_dir}: nothing to do ({report.documents} documents)")
    else:
        timing = ", ".join(f"{k} {v:.1f}s" for k, v in report.seconds.items())
        print(f"{report.index_dir}: {report.operation} done — {report.documents} documents "
              f"(+{report.rows_added}, -{report.deleted}); shards encoded {report.shards_encoded}, "
              f"reused {report.shards_reused}; {timing}")
        if report.ann_recall_at_10 is not None:
            print(f"  ANN recall@10 vs exact (sampled): {report.ann_recall_at_10:.3f}")
    return 0


def _build(args: argparse.Namespace) -> int:
    from ..config import from_args
    from ..workflows.index import IndexBuildConfig, run_index_build

    cfg = from_args(IndexBuildConfig, args)
    if getattr(args, "dtype", None) in ("fp16", "fp32") and not hasattr(args, "vector_dtype"):
        logging.getLogger("reasonir.cli").warning(
            "--dtype %s sets the encoder's compute dtype (as in every command); the stored vectors' dtype is "
            "--vector-dtype (now %s)", args.dtype, cfg.vector_dtype)
    return _report(args, run_index_build(cfg))


def _add(args: argparse.Namespace) -> int:
    from ..config import from_args
    from ..workflows.index import IndexAddConfig, run_index_add

    return _report(args, run_index_add(from_args(IndexAddConfig, args)))


def _delete(args: argparse.Namespace) -> int:
    from ..config import from_args
    from ..workflows.index import IndexDeleteConfig, run_index_delete

    try:
        return _report(args, run_index_delete(from_args(IndexDeleteConfig, args)))
    except KeyError as exc:
        print(f"reasonir index delete: error: {exc.args[0]}", file=sys.stderr)
        return 2


def _derive(args: argparse.Namespace) -> int:
    from ..config import from_args
    from ..workflows.index import IndexDeriveConfig, run_index_derive

    return _report(args, run_index_derive(from_args(IndexDeriveConfig, args)))


def _info(args: argparse.Namespace) -> int:
    from ..config import from_args
    from ..workflows.index import IndexInfoConfig, run_index_info

    info = run_index_info(from_args(IndexInfoConfig, args))
    if args.json:
        print_json(info)
    else:
        for key, value in info.items():
            print(f"{key:>18}: {value}")
    return 0
