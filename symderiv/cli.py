"""The ``symderiv`` command line.

Exit codes: 0 success; 1 a check failed (or TeX failed on a generated
document); 2 bad input, with a one-line message on stderr and no traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from symderiv import __version__, topics
from symderiv.errors import InputError, TexError

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT = 0, 1, 2

_DESCRIPTION = """\
Derive the mathematics of deep learning with SymPy, write it up as LaTeX, and
check every result against an independent numerical computation.

  symderiv list                                   topics and their parameters
  symderiv derive backprop --set widths=3,4,1     the derivation, as text/latex/json
  symderiv verify                                 run every check; exit 1 if one fails
  symderiv report                                 write reports/ (.tex, figures, .pdf)
"""

_EPILOG = "Exit codes: 0 ok, 1 a check failed, 2 bad input."


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are InputErrors (exit 2, one line, no traceback)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise InputError(f"{message} (see '{self.prog} --help')")


def _parse_settings(pairs: Sequence[str]) -> dict[str, str]:
    settings: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--set {pair!r} is not of the form key=value, e.g. --set widths=3,4,1")
        settings[key.strip()] = value.strip()
    return settings


def _topic_names(given: Sequence[str]) -> list[str] | None:
    for name in given:
        topics.module(name)  # raises InputError naming the known topics
    return list(given) or None


# ------------------------------------------------------------------ subcommands


def _cmd_list(args: argparse.Namespace) -> int:
    for name in topics.names():
        print(f"{name}: {topics.summary(name)}")
        for parameter in topics.parameters(name):
            print(f"    {parameter.describe()}")
    return EXIT_OK


def _cmd_derive(args: argparse.Namespace) -> int:
    derivation = topics.derive(args.topic, **_parse_settings(args.set))
    if args.format == "latex":
        from symderiv.render.document import standalone

        sys.stdout.write(standalone(derivation))
    elif args.format == "json":
        from symderiv.render.latex import latex

        payload = {
            "topic": derivation.name,
            "title": derivation.title,
            "parameters": {k: _jsonable(v) for k, v in derivation.parameters.items()},
            "results": {
                name: {"sympy": str(value), "latex": latex(value)}
                for name, value in derivation.results.items()
            },
            "checks": [c.name for c in derivation.checks],
        }
        print(json.dumps(payload, indent=2))
    else:
        import sympy as sp

        title = _plain_text(derivation.title)
        print(title)
        print("=" * len(title))
        for name, value in derivation.results.items():
            print(f"\n{name}:")
            for line in sp.pretty(value, use_unicode=True, wrap_line=False).splitlines():
                print("    " + line.rstrip())
    return EXIT_OK


def _jsonable(value: object) -> object:
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    return str(value)


def _cmd_verify(args: argparse.Namespace) -> int:
    names = _topic_names(args.topics) or topics.names()
    settings = _parse_settings(args.set)
    if settings and len(names) != 1:
        raise InputError("--set needs exactly one topic, e.g. symderiv verify backprop --set kink=half")
    rows = []
    for name in names:
        derivation = topics.derive(name, **settings)
        for result in derivation.verify():
            rows.append((name, result))
    width = max(len(r.name) for _, r in rows)
    width = min(max(width, 5), 60)
    print(f"{'topic':<15} {'check':<{width}} {'error':>9} {'tolerance':>9}  result")
    for name, r in rows:
        check = _plain_text(r.name)[:width]
        print(
            f"{name:<15} {check:<{width}} {r.max_error:>9.1e} {r.tolerance:>9.1e}  "
            f"{'pass' if r.passed else 'FAIL'}"
        )
    failed = [(n, r) for n, r in rows if not r.passed]
    print(f"{len(rows) - len(failed)} passed, {len(failed)} failed")
    for name, r in failed:
        print(f"FAILED {name}: {_plain_text(r.name)}: {_plain_text(r.detail)}", file=sys.stderr)
    return EXIT_CHECK_FAILED if failed else EXIT_OK


def _plain_text(text: str) -> str:
    """A LaTeX sentence made readable on a terminal (maths markers dropped)."""
    for token in ("$", "\\,", "\\", "{", "}"):
        text = text.replace(token, "")
    return " ".join(text.split())


def _cmd_report(args: argparse.Namespace) -> int:
    from symderiv import pipeline
    from symderiv.render.pdf import INSTALL_HINT, tex_available

    names = _topic_names(args.topics)
    pdf = args.pdf
    if pdf is None:
        pdf = tex_available()
        if not pdf:
            print(f"symderiv: no TeX found, writing .tex only; {INSTALL_HINT}", file=sys.stderr)
    elif pdf and not tex_available():
        raise InputError(f"--pdf was asked for but no latexmk or pdflatex is installed; {INSTALL_HINT}")

    def progress(report: pipeline.Report) -> None:
        made = [str(report.tex)] + ([str(report.pdf)] if report.pdf else [])
        verdict = "" if report.passed else "  (a check FAILED)"
        print(f"{report.topic}: {', '.join(made)}{verdict}")

    reports = pipeline.build_all(names, Path(args.out), pdf=pdf, progress=progress)
    return EXIT_OK if all(r.passed for r in reports) else EXIT_CHECK_FAILED


# ------------------------------------------------------------------ parser


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="symderiv",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"symderiv {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    listing = sub.add_parser("list", help="list the topics and their parameters")
    listing.set_defaults(run=_cmd_list)

    derive = sub.add_parser(
        "derive", help="derive one topic and print its results",
        description="Derive TOPIC and print its results (text), its LaTeX document, or JSON.",
    )
    derive.add_argument("topic", metavar="TOPIC", help="a topic name (see 'symderiv list')")
    derive.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="set a parameter, e.g. --set widths=3,4,1 --set activation=tanh (repeatable)",
    )
    derive.add_argument(
        "--format", choices=("text", "latex", "json"), default="text", help="output format"
    )
    derive.set_defaults(run=_cmd_derive)

    verify = sub.add_parser(
        "verify", help="run the checks and print a table; exit 1 if any fails",
        description="Run every check of the given topics (all when none is named).",
    )
    verify.add_argument("topics", nargs="*", metavar="TOPIC")
    verify.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="set a parameter of the one topic named",
    )
    verify.set_defaults(run=_cmd_verify)

    report = sub.add_parser(
        "report", help="write LaTeX reports (and PDFs) of the topics",
        description=(
            "Write OUT/TOPIC.tex with its figures and the table of checks for each topic; "
            "with no topic, every topic plus the combined document OUT/symderiv.tex. "
            "PDFs are built when TeX is installed, unless --no-pdf."
        ),
    )
    report.add_argument("topics", nargs="*", metavar="TOPIC")
    report.add_argument("--out", default="reports", help="output folder (default: reports)")
    group = report.add_mutually_exclusive_group()
    group.add_argument("--pdf", dest="pdf", action="store_true", default=None,
                       help="compile PDFs (fail if TeX is missing)")
    group.add_argument("--no-pdf", dest="pdf", action="store_false",
                       help="write .tex and figures only")
    report.set_defaults(run=_cmd_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except InputError as exc:
        print(f"symderiv: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except TexError as exc:
        print(f"symderiv: TeX error: {exc}", file=sys.stderr)
        return EXIT_CHECK_FAILED
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader (say, `| head`) went away: stop quietly, as Unix tools do.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
