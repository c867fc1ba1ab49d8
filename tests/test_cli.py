"""The command line: subcommands, formats, exit codes, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from symderiv.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_topics_and_parameters(toy_registered, capsys):
    code, out, _ = run(capsys, "list")
    assert code == 0
    assert "toy: the derivative of c x^2 (a test fixture)" in out
    assert "    c (int, default 3): the coefficient, a positive integer" in out


@pytest.mark.parametrize("fmt", ["text", "latex", "json"])
def test_derive_formats(toy_registered, capsys, fmt):
    code, out, _ = run(capsys, "derive", "toy", "--set", "c=5", "--format", fmt)
    assert code == 0
    if fmt == "json":
        payload = json.loads(out)
        assert payload["results"]["df/dx"] == {"sympy": "10*x", "latex": "10 x"}
        assert payload["parameters"] == {"c": 5, "wrong": False}
    elif fmt == "latex":
        assert out.startswith("\\documentclass") and "10 x" in out
    else:
        assert "\ndf/dx:\n    10⋅x\n" in out


def test_verify_passes_and_fails_with_exit_codes(toy_registered, capsys):
    code, out, _ = run(capsys, "verify", "toy")
    assert code == 0 and "1 passed, 0 failed" in out
    code, out, err = run(capsys, "verify", "toy", "--set", "wrong=true")
    assert code == 1 and "FAIL" in out and "FAILED toy: df/dx" in err


@pytest.mark.parametrize(("argv", "message"), [
    (["derive", "nope"], "unknown topic 'nope'; choose one of:"),
    (["derive", "toy", "--set", "c"], "--set 'c' is not of the form key=value"),
    (["derive", "toy", "--set", "c=-2"], "c=-2 must be positive"),
    (["derive", "toy", "--set", "c=two"], "c='two' is not a valid integer"),
    (["derive", "toy", "--format", "html"], "invalid choice: 'html'"),
    (["verify", "toy", "backprop", "--set", "c=2"], "--set needs exactly one topic"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    ([], "the following arguments are required: COMMAND"),
])
def test_bad_input_exits_2_with_one_line(toy_registered, capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert err.startswith("symderiv: error: ") and message in err
    assert err.count("\n") == 1 and out == ""


def test_report_writes_tex_and_figures(toy_registered, capsys, tmp_path):
    code, out, _ = run(capsys, "report", "toy", "--out", str(tmp_path), "--no-pdf")
    assert code == 0
    assert (tmp_path / "toy.tex").exists() and (tmp_path / "figures" / "toy-curve.pdf").exists()
    assert not (tmp_path / "symderiv.tex").exists()
    assert out == f"toy: {tmp_path / 'toy.tex'}\n"


def test_report_exits_1_when_a_check_fails(toy_registered, capsys, tmp_path, monkeypatch):
    from symderiv import topics

    real = topics.derive
    monkeypatch.setattr(topics, "derive", lambda name, **p: real(name, wrong=True))
    code, out, _ = run(capsys, "report", "toy", "--out", str(tmp_path), "--no-pdf")
    assert code == 1 and "(a check FAILED)" in out


def test_pdf_without_tex_is_bad_input(toy_registered, capsys, tmp_path, monkeypatch):
    monkeypatch.setattr("symderiv.render.pdf.tex_available", lambda: False)
    code, _, err = run(capsys, "report", "toy", "--out", str(tmp_path), "--pdf")
    assert code == 2 and "no latexmk or pdflatex is installed; install TeX" in err


def test_auto_pdf_without_tex_says_so_and_writes_tex(toy_registered, capsys, tmp_path, monkeypatch):
    monkeypatch.setattr("symderiv.render.pdf.tex_available", lambda: False)
    code, _, err = run(capsys, "report", "toy", "--out", str(tmp_path))
    assert code == 0 and err.count("\n") == 1 and "no TeX found, writing .tex only" in err
    assert (tmp_path / "toy.tex").exists() and not (tmp_path / "toy.pdf").exists()


def test_module_entry_point_has_no_traceback_on_bad_input():
    done = subprocess.run(
        [sys.executable, "-m", "symderiv", "derive", "backprop", "--set", "loss=hinge"],
        capture_output=True, text=True,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("symderiv: error: loss='hinge' is not allowed; choose one of: ")


def test_help_explains_every_command():
    done = subprocess.run([sys.executable, "-m", "symderiv", "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    for command in ("list", "derive", "verify", "report", "Exit codes"):
        assert command in done.stdout


def test_a_closed_pipe_ends_quietly():
    done = subprocess.run(
        f"{sys.executable} -m symderiv derive backprop --format latex | head -n 1",
        shell=True, capture_output=True, text=True,
    )
    assert done.stdout == "\\documentclass[11pt]{article}\n"
    assert "Traceback" not in done.stderr
