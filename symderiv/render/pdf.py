"""Compile generated LaTeX to PDF with a real TeX, never with shell escape.

``latexmk`` is preferred (it reruns pdflatex until cross-references settle);
plain ``pdflatex`` run twice is the fallback. The TeX date is pinned through
``SOURCE_DATE_EPOCH`` so that the same source gives the same PDF bytes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from symderiv.errors import TexError

INSTALL_HINT = (
    "install TeX, for example: apt-get install -y --no-install-recommends "
    "texlive-latex-base texlive-latex-recommended latexmk"
)
_PDFLATEX = ["pdflatex", "-no-shell-escape", "-interaction=nonstopmode", "-halt-on-error"]
# 2024-01-01 00:00 UTC: any fixed date works; it only has to be the same every run.
_FIXED_DATE = "1704067200"


def tex_available() -> bool:
    """Whether a TeX that can build PDFs is on the PATH."""
    return shutil.which("latexmk") is not None or shutil.which("pdflatex") is not None


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env["SOURCE_DATE_EPOCH"] = _FIXED_DATE
    env["FORCE_SOURCE_DATE"] = "1"
    return env


def _first_error(log: Path) -> str:
    if not log.exists():
        return "no log was written"
    lines = log.read_text(errors="replace").splitlines()
    for i, line in enumerate(lines):
        if line.startswith("!"):
            return " ".join(part.strip() for part in lines[i : i + 3])
    return "see " + log.name


def compile_pdf(tex_path: Path | str, timeout: float = 300) -> Path:
    """Compile ``tex_path`` next to itself and return the PDF's path.

    Raises :class:`TexError` if no TeX is installed or the document fails.
    """
    tex_path = Path(tex_path).resolve()
    folder, stem = tex_path.parent, tex_path.stem
    if shutil.which("latexmk"):
        commands = [[
            "latexmk", "-pdf", "-quiet",
            "-pdflatex=" + " ".join(_PDFLATEX) + " %O %S",
            tex_path.name,
        ]]
    elif shutil.which("pdflatex"):
        commands = [[*_PDFLATEX, tex_path.name]] * 2
    else:
        raise TexError(f"no latexmk or pdflatex on the PATH; {INSTALL_HINT}")
    for command in commands:
        try:
            completed = subprocess.run(
                command, cwd=folder, env=_environment(), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, check=False,
            )
        except subprocess.TimeoutExpired:
            raise TexError(f"{tex_path.name}: TeX did not finish within {timeout:.0f} s") from None
        if completed.returncode != 0:
            raise TexError(f"{tex_path.name} did not compile: {_first_error(folder / (stem + '.log'))}")
    _clean(folder, stem)
    return folder / (stem + ".pdf")


def _clean(folder: Path, stem: str) -> None:
    for suffix in (".aux", ".log", ".fls", ".fdb_latexmk", ".out", ".toc"):
        (folder / (stem + suffix)).unlink(missing_ok=True)
