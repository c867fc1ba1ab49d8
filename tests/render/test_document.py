"""Documents: escaping, number format, golden output, atomic writes, and a real TeX build."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from symderiv import pipeline, topics
from symderiv.errors import TexError
from symderiv.render import document
from symderiv.render.pdf import compile_pdf

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
needs_tex = pytest.mark.skipif(
    shutil.which("latexmk") is None and shutil.which("pdflatex") is None,
    reason="no TeX on this machine; .ci/run installs it, so CI runs this test",
)


@pytest.mark.parametrize(("text", "escaped"), [
    ("a_b", r"a\_b"),
    ("50% & $5 #1", r"50\% \& \$5 \#1"),
    ("{x}~^\\", r"\{x\}\textasciitilde{}\textasciicircum{}\textbackslash{}"),
])
def test_escape_text(text, escaped):
    assert document.escape_text(text) == escaped


@pytest.mark.parametrize(("value", "text"), [
    (0.0, "$0$"),
    (6.6e-11, r"$6.6\times 10^{-11}$"),
    (2.0, "$2.0$"),
    (float("inf"), r"$\infty$"),
])
def test_format_number(value, text):
    assert document.format_number(value) == text


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("SYMDERIV_UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert text == path.read_text(), f"{name} differs from its golden file"


def test_standalone_matches_golden(toy_registered):
    d = topics.derive("toy")
    _golden("toy.tex", document.standalone(d, d.verify()))


def test_combined_matches_golden(toy_registered):
    d = topics.derive("toy")
    _golden("toy-combined.tex", document.combined([(d, d.verify())]))


def test_unverified_document_lists_the_checks_without_errors(toy_registered):
    text = topics.derive("toy").to_latex()
    assert "they were not run for this document" in text
    assert "pass" not in text


def test_a_failing_check_is_shown_as_failed(toy_registered):
    d = topics.derive("toy", wrong=True)
    text = document.standalone(d, d.verify())
    assert r"\textbf{FAIL}" in text and "0 of 1 checks passed" in text


def test_write_atomic_does_not_touch_an_unchanged_file(tmp_path):
    path = tmp_path / "a" / "b.tex"
    assert document.write_atomic(path, "x") is True
    before = path.stat().st_mtime_ns
    assert document.write_atomic(path, "x") is False
    assert path.stat().st_mtime_ns == before
    assert document.write_atomic(path, "y") is True and path.read_text() == "y"
    assert [p.name for p in path.parent.iterdir()] == ["b.tex"]


@needs_tex
def test_toy_report_compiles_and_is_reproducible(toy_registered, tmp_path):
    pipeline.build_all(["toy"], tmp_path, pdf=True)
    first = (tmp_path / "toy.pdf").read_bytes()
    figure = (tmp_path / "figures" / "toy-curve.pdf").read_bytes()
    (tmp_path / "toy.pdf").unlink()
    (tmp_path / "figures" / "toy-curve.pdf").unlink()
    pipeline.build_all(["toy"], tmp_path, pdf=True)
    assert first.startswith(b"%PDF")
    assert (tmp_path / "toy.pdf").read_bytes() == first
    assert (tmp_path / "figures" / "toy-curve.pdf").read_bytes() == figure


@needs_tex
def test_broken_latex_is_a_tex_error_naming_the_problem(tmp_path):
    tex = tmp_path / "bad.tex"
    tex.write_text("\\documentclass{article}\\begin{document}\\undefinedmacro\\end{document}\n")
    with pytest.raises(TexError, match=r"bad.tex did not compile: ! Undefined control sequence"):
        compile_pdf(tex)


@needs_tex
def test_shell_escape_is_off(tmp_path):
    tex = tmp_path / "esc.tex"
    marker = tmp_path / "marker"
    tex.write_text(
        "\\documentclass{article}\\begin{document}"
        f"\\immediate\\write18{{touch {marker}}}x\\end{{document}}\n"
    )
    compile_pdf(tex)
    assert not marker.exists()


def test_written_files_are_readable_by_others(tmp_path):
    path = tmp_path / "c.tex"
    old = os.umask(0o022)
    try:
        document.write_atomic(path, "z")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644
