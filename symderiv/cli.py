"""The ``symderiv`` command line.

Exit codes: 0 success; 1 a check failed (or TeX failed on a generated
document, or symderiv itself hit an internal error); 2 bad input, with a
one-line message on stderr and no traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
import warnings
from collections.abc import Sequence
from pathlib import Path

from symderiv import __version__, topics
from symderiv.errors import InputError, TexError
from symderiv.render.plain import display_width, pad, plain_text, readable_symbols

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT = 0, 1, 2

DEBUG_VARIABLE = "SYMDERIV_DEBUG"

_DESCRIPTION = """\
Derive the mathematics of deep learning with SymPy, write it up as LaTeX, and
check every result against an independent numerical computation.

  symderiv list                                   topics and their parameters
  symderiv derive backprop --set widths=3,4,1     the derivation, as text/latex/json
  symderiv verify                                 run every check; exit 1 if one fails
  symderiv report                                 write reports/ (.tex, figures, .pdf)
"""

_EPILOG = (
    "Exit codes: 0 ok, 1 a check failed, 2 bad input. "
    f"Set {DEBUG_VARIABLE}=1 to see the traceback of an internal error."
)


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are InputErrors (exit 2, one line, no traceback)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise InputError(f"{message} (see '{self.prog} --help')")


def _parse_settings(pairs: Sequence[str]) -> dict[str, str]:
    settings: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise InputError(f"--set {pair!r} is not of the form key=value, e.g. --set widths=3,4,1")
        if key in settings:
            raise InputError(
                f"--set {key} is given twice ({key}={settings[key]} and {key}={value}); "
                f"give each parameter once"
            )
        settings[key] = value
    return settings


def _topic_names(given: Sequence[str]) -> list[str] | None:
    for name in given:
        topics.module(name)  # raises InputError naming the known topics
    return list(dict.fromkeys(given)) or None  # a topic named twice runs once


def _one_topic_settings(names: Sequence[str] | None, pairs: Sequence[str], command: str):
    settings = _parse_settings(pairs)
    if settings and (names is None or len(names) != 1):
        given = "no topic" if not names else f"{len(names)} topics ({', '.join(names)})"
        raise InputError(
            f"--set needs exactly one topic, got {given}; "
            f"e.g. symderiv {command} backprop --set kink=half"
        )
    return settings


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
        _note_missing_figures(derivation, args)
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

        title = plain_text(derivation.title)
        print(title)
        print("=" * display_width(title))
        if derivation.parameters:
            print("parameters: " + ", ".join(
                f"{k}={_setting(v)}" for k, v in derivation.parameters.items()))
        for name, value in derivation.results.items():
            print(f"\n{name}:")
            for line in sp.pretty(readable_symbols(value), use_unicode=True,
                                  wrap_line=False).splitlines():
                print("    " + line.rstrip())
    return EXIT_OK


def _note_missing_figures(derivation, args: argparse.Namespace) -> None:
    """The document includes figures that ``derive`` does not draw: say how to get them."""
    from symderiv.pipeline import figures_of

    count = len(figures_of(derivation))
    if count:
        sets = "".join(f" --set {pair}" for pair in args.set)
        print(
            f"symderiv: note: the document includes {count} figure(s) from figures/, which "
            f"derive does not draw; 'symderiv report {args.topic}{sets} --out DIR' writes "
            f"the .tex together with its figures",
            file=sys.stderr,
        )


def _jsonable(value: object) -> object:
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    return str(value)


def _setting(value: object) -> str:
    """A parameter value as it would be written after ``--set key=``."""
    if isinstance(value, (tuple, list)):
        return ",".join(map(str, value))
    return str(value).lower() if isinstance(value, bool) else str(value)


_CHECK_WIDTH = 60  # longer check names wrap onto continuation lines


def _cmd_verify(args: argparse.Namespace) -> int:
    names = _topic_names(args.topics)
    settings = _one_topic_settings(names, args.set, "verify")
    rows = []
    for name in names or topics.names():
        derivation = topics.derive(name, **settings)
        for result in derivation.verify():
            rows.append((name, result))
    labels = [plain_text(r.name) for _, r in rows]
    width = min(max([display_width(label) for label in labels] + [5]), _CHECK_WIDTH)
    print(f"{'topic':<15} {pad('check', width)} {'error':>9} {'tolerance':>9}  result")
    for (name, r), label in zip(rows, labels, strict=True):
        first, *rest = textwrap.wrap(label, width) or [""]
        print(
            f"{name:<15} {pad(first, width)} {r.max_error:>9.1e} {r.tolerance:>9.1e}  "
            f"{'pass' if r.passed else 'FAIL'}"
        )
        for more in rest:
            print(f"{'':<15} {more}")
    failed = [(n, r) for n, r in rows if not r.passed]
    print(f"{len(rows) - len(failed)} passed, {len(failed)} failed")
    _print_failures(failed)
    return EXIT_CHECK_FAILED if failed else EXIT_OK


def _print_failures(rows) -> None:
    for name, r in rows:
        if not r.passed:
            print(f"FAILED {name}: {plain_text(r.name)}: {plain_text(r.detail)}", file=sys.stderr)


def _cmd_report(args: argparse.Namespace) -> int:
    from symderiv import pipeline
    from symderiv.render.pdf import INSTALL_HINT, tex_available

    names = _topic_names(args.topics)
    settings = _one_topic_settings(names, args.set, "report")
    if settings:
        topics.derive(names[0], **settings)  # bad values fail before any file is written
    pdf = args.pdf
    if pdf is None:
        pdf = tex_available()
        if not pdf:
            print(f"symderiv: no TeX found, writing .tex only; {INSTALL_HINT}", file=sys.stderr)
    elif pdf and not tex_available():
        raise InputError(f"--pdf was asked for but no latexmk or pdflatex is installed; {INSTALL_HINT}")
    out = _output_folder(args.out)

    def progress(report: pipeline.Report) -> None:
        made = [str(report.tex)] + ([str(report.pdf)] if report.pdf else [])
        verdict = "" if report.passed else "  (a check FAILED)"
        print(f"{report.topic}: {', '.join(made)}{verdict}")
        if report.topic != pipeline.COMBINED_NAME:  # the combined document repeats them
            _print_failures((report.topic, r) for r in report.results)

    if settings:
        _, one = pipeline.build_report(names[0], out, pdf=pdf, **settings)
        progress(one)
        reports = [one]
    else:
        reports = pipeline.build_all(names, out, pdf=pdf, progress=progress)
    return EXIT_OK if all(r.passed for r in reports) else EXIT_CHECK_FAILED


def _output_folder(given: str) -> Path:
    """``--out`` as a folder that exists and can be written, or an InputError saying why not."""
    if not given.strip():
        raise InputError("--out '' is empty; give a folder, e.g. --out reports")
    out = Path(given)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {given!r} is a file, not a folder; choose a folder, e.g. --out reports")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"--out {given!r} cannot be created ({exc.strerror or exc}); choose a folder you can write"
        ) from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise InputError(f"--out {given!r} is not writable; choose a folder you can write")
    return out


# ------------------------------------------------------------------ parser

def build_parser() -> argparse.ArgumentParser:
    topics_help = "topic names (default: every topic): " + ", ".join(topics.names())
    parser = _Parser(
        prog="symderiv",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"symderiv {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    listing = sub.add_parser(
        "list", help="list the topics and their parameters",
        description="List every topic with its parameters: type, default, meaning and allowed "
                    "values. Set them with --set KEY=VALUE on derive, verify and report.",
    )
    listing.set_defaults(run=_cmd_list)

    derive = sub.add_parser(
        "derive", help="derive one topic and print its results",
        description="Derive TOPIC and print its results (text), its LaTeX document, or JSON.",
        epilog="example: symderiv derive backprop --set widths=784,256,10 --set activation=tanh "
               "--set loss=mse --format latex",
    )
    derive.add_argument("topic", metavar="TOPIC",
                        help="one of: " + ", ".join(topics.names()) + " (see 'symderiv list')")
    derive.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="set a parameter, e.g. --set widths=3,4,1 --set activation=tanh (repeatable)",
    )
    derive.add_argument(
        "--format", choices=("text", "latex", "json"), default="text",
        help="text (readable formulas), latex (a standalone document) or json; default text",
    )
    derive.set_defaults(run=_cmd_derive)

    verify = sub.add_parser(
        "verify", help="run the checks and print a table; exit 1 if any fails",
        description="Run every check of the given topics (all when none is named).",
    )
    verify.add_argument("topics", nargs="*", metavar="TOPIC", help=topics_help)
    verify.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="set a parameter of the one topic named (repeatable)",
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
    report.add_argument("topics", nargs="*", metavar="TOPIC", help=topics_help)
    report.add_argument("--out", default="reports",
                        help="output folder, created if missing (default: reports)")
    report.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="set a parameter of the one topic named (repeatable)",
    )
    group = report.add_mutually_exclusive_group()
    group.add_argument("--pdf", dest="pdf", action="store_true", default=None,
                       help="compile PDFs (fail if TeX is missing)")
    group.add_argument("--no-pdf", dest="pdf", action="store_false",
                       help="write .tex and figures only")
    report.set_defaults(run=_cmd_report)
    parser.subcommands = sub.choices  # type: ignore[attr-defined]
    return parser


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        # argparse would blame the top-level parser; name the subcommand's help instead.
        parser.subcommands[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"symderiv: warning: {category.__name__}: {message}", file=file or sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning  # one line, not a source listing
            args = _parse(argv)
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
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"symderiv: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_CHECK_FAILED
    except Exception as exc:
        if os.environ.get(DEBUG_VARIABLE):
            raise
        first = (str(exc).splitlines() or [""])[0]
        print(
            f"symderiv: internal error: {type(exc).__name__}: {first} "
            f"(a bug in symderiv, not in your input; set {DEBUG_VARIABLE}=1 for the traceback)",
            file=sys.stderr,
        )
        return EXIT_CHECK_FAILED
