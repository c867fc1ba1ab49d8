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
    code, _, err = run(capsys, "report", "toy", "--out", str(tmp_path / "new"), "--pdf")
    assert code == 2 and "no latexmk or pdflatex is installed; install TeX" in err
    assert not (tmp_path / "new").exists()  # bad input leaves no trace


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


# ------------------------------------------------------------------ review fixes


def test_a_parameter_set_twice_is_bad_input(toy_registered, capsys):
    code, out, err = run(capsys, "derive", "toy", "--set", "c=2", "--set", "c=5")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "--set c is given twice (c=2 and c=5); give each parameter once" in err


def test_a_topic_named_twice_runs_once(toy_registered, capsys, tmp_path):
    code, out, _ = run(capsys, "verify", "toy", "toy")
    assert code == 0 and out.count("\ntoy ") == 1 and "1 passed, 0 failed" in out
    code, out, _ = run(capsys, "report", "toy", "toy", "--out", str(tmp_path), "--no-pdf")
    assert code == 0 and out == f"toy: {tmp_path / 'toy.tex'}\n"


@pytest.mark.parametrize(("out_dir", "message"), [
    ("", "--out '' is empty; give a folder, e.g. --out reports"),
    ("{file}", "is a file, not a folder; choose a folder"),
    ("{file}/sub", "cannot be created (Not a directory); choose a folder you can write"),
])
def test_an_unusable_out_folder_is_bad_input(toy_registered, capsys, tmp_path, out_dir, message):
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    code, out, err = run(capsys, "report", "toy", "--out", out_dir.format(file=a_file), "--no-pdf")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("symderiv: error: --out ") and message in err


def test_report_creates_a_nested_out_folder_and_takes_settings(toy_registered, capsys, tmp_path):
    out_dir = tmp_path / "a" / "b"
    code, out, _ = run(capsys, "report", "toy", "--set", "c=5", "--out", str(out_dir), "--no-pdf")
    assert code == 0 and out == f"toy: {out_dir / 'toy.tex'}\n"
    assert "10 x" in (out_dir / "toy.tex").read_text()


@pytest.mark.parametrize(("argv", "message"), [
    (["report", "--set", "c=5", "--no-pdf"], "--set needs exactly one topic, got no topic"),
    (["report", "toy", "--set", "c=-2", "--no-pdf"], "c=-2 must be positive"),
    (["derive", "toy", "extra"], "unrecognized arguments: extra (see 'symderiv derive --help')"),
    (["list", "extra"], "unrecognized arguments: extra (see 'symderiv list --help')"),
])
def test_more_bad_input_exits_2_with_one_line(toy_registered, capsys, tmp_path, monkeypatch, argv,
                                               message):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("symderiv: error: ") and message in err
    assert not (tmp_path / "reports").exists()


def test_an_internal_error_is_one_line_without_traceback(toy_registered, capsys, monkeypatch):
    from symderiv import topics

    def broken(name, **params):
        raise ValueError("check 'x': tolerance must be finite and >= 0\nsecond line")

    monkeypatch.setattr(topics, "derive", broken)
    monkeypatch.delenv("SYMDERIV_DEBUG", raising=False)
    code, out, err = run(capsys, "verify", "toy")
    assert code == 1 and out == "" and err.count("\n") == 1
    assert err.startswith(
        "symderiv: internal error: ValueError: check 'x': tolerance must be finite and >= 0 "
        "(a bug in symderiv, not in your input; set SYMDERIV_DEBUG=1 for the traceback)"
    )
    monkeypatch.setenv("SYMDERIV_DEBUG", "1")
    with pytest.raises(ValueError, match="tolerance must be finite"):
        main(["verify", "toy"])


def test_a_warning_is_one_line(toy_registered, capsys, monkeypatch):
    import warnings

    from symderiv import topics

    real = topics.derive

    def noisy(name, **params):
        warnings.warn("invalid value encountered in divide", RuntimeWarning, stacklevel=1)
        return real(name, **params)

    monkeypatch.setattr(topics, "derive", noisy)
    code, _, err = run(capsys, "verify", "toy")
    assert code == 0
    assert err == "symderiv: warning: RuntimeWarning: invalid value encountered in divide\n"




def test_derive_text_shows_parameters_and_plain_symbol_names(toy_registered, capsys):
    code, out, _ = run(capsys, "derive", "toy", "--set", "c=5")
    assert code == 0 and out.startswith("A toy derivative\n================\nparameters: c=5, wrong=false\n")
    code, out, _ = run(capsys, "derive", "convexity")
    assert code == 0 and "\\" not in out and "\n    -y + y\u0302\n" in out


def test_verify_wraps_long_check_names_instead_of_cutting_them(toy_registered, capsys, monkeypatch):
    import dataclasses

    from symderiv import topics

    real = topics.derive
    long_name = "float32 GN forward and backward keep float32 and the promised accuracy"

    def long_named(name, **params):
        derivation = real(name, **params)
        check = dataclasses.replace(derivation.checks[0], name=long_name)
        return dataclasses.replace(derivation, checks=(check,))

    monkeypatch.setattr(topics, "derive", long_named)
    code, out, _ = run(capsys, "verify", "toy")
    assert code == 0
    lines = out.splitlines()
    assert lines[1].startswith("toy             float32 GN forward and backward keep float32 and ")
    assert lines[1].endswith("pass") and lines[2] == " " * 16 + "promised accuracy"


def test_subcommand_help_names_the_topics():
    done = subprocess.run([sys.executable, "-m", "symderiv", "derive", "--help"],
                          capture_output=True, text=True)
    assert done.returncode == 0
    assert "one of: backprop, convexity, initialization, normalization" in " ".join(done.stdout.split())


def test_derive_latex_says_how_to_get_the_figures_it_includes(toy_registered, capsys):
    code, out, err = run(capsys, "derive", "toy", "--set", "c=5", "--format", "latex")
    assert code == 0 and "figures/toy-curve.pdf" in out
    assert err == (
        "symderiv: note: the document includes 1 figure(s) from figures/, which derive does "
        "not draw; 'symderiv report toy --set c=5 --out DIR' writes the .tex together with "
        "its figures\n"
    )


def test_report_names_the_failed_check(toy_registered, capsys, tmp_path, monkeypatch):
    code, out, err = run(capsys, "report", "toy", "--set", "wrong=true", "--out", str(tmp_path),
                         "--no-pdf")
    assert code == 1 and out == f"toy: {tmp_path / 'toy.tex'}  (a check FAILED)\n"
    assert err.startswith("FAILED toy: df/dx: ") and err.count("\n") == 1
