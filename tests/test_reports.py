"""reports/ is what the tool generates: regenerating it changes no byte, and TeX compiles it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from symderiv import pipeline, topics
from symderiv.render.pdf import compile_pdf

REPORTS = Path(__file__).resolve().parents[1] / "reports"
TEX_FILES = [*(f"{name}.tex" for name in topics.names()), "symderiv.tex"]


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    pipeline.build_all(None, out, pdf=False)
    return out


@pytest.mark.parametrize("name", TEX_FILES)
def test_committed_report_is_byte_identical_to_a_fresh_one(regenerated, name):
    fresh = (regenerated / name).read_bytes()
    committed = (REPORTS / name).read_bytes()
    assert fresh == committed, f"reports/{name} is stale: run 'symderiv report' and commit it"


def test_every_committed_figure_is_regenerated(regenerated):
    fresh = sorted(p.name for p in (regenerated / "figures").iterdir())
    committed = sorted(p.name for p in (REPORTS / "figures").iterdir())
    assert fresh == committed


def test_every_committed_report_has_its_pdf():
    for name in TEX_FILES:
        assert (REPORTS / name).with_suffix(".pdf").exists(), name


@pytest.mark.skipif(
    shutil.which("latexmk") is None and shutil.which("pdflatex") is None,
    reason="no TeX on this machine; .ci/run installs it, so CI runs this test",
)
@pytest.mark.parametrize("name", TEX_FILES)
def test_report_compiles_with_pdflatex(regenerated, name):
    pdf = compile_pdf(regenerated / name)
    assert pdf.read_bytes().startswith(b"%PDF")
