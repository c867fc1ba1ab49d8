r"""LaTeX sentences and SymPy symbol names made readable on a terminal.

Check names, titles and details are LaTeX written for the reports; the command
line prints them with the markup turned into plain text and Unicode.
"""

from __future__ import annotations

import re
import unicodedata

_FORMAT_COMMANDS = (
    "operatorname", "mathrm", "text", "textrm", "textsf", "texttt", "textit", "textbf", "emph",
    "mathbf", "boldsymbol", "bm", "mathit", "mathsf", "mathtt", "mathcal", "mathbb", "mbox",
)
_FORMAT = re.compile(r"\\(?:" + "|".join(_FORMAT_COMMANDS) + r")\s*\{([^{}]*)\}")
_ARGUMENT = r"(\{[^{}]*\}|\\[A-Za-z]+|[^\s{}\\])"
_FRAC = re.compile(r"\\[dt]?frac\s*" + _ARGUMENT + r"\s*" + _ARGUMENT)
_SQRT = re.compile(r"\\sqrt\s*" + _ARGUMENT)
_ACCENT = re.compile(r"\\(hat|widehat|bar|overline|tilde|widetilde|dot)\s*" + _ARGUMENT)
_COMBINING = {"hat": "\u0302", "widehat": "\u0302", "bar": "\u0305", "overline": "\u0305",
              "tilde": "\u0303", "widetilde": "\u0303", "dot": "\u0307"}
_TIMES_TEN = re.compile(r"(\d+(?:\.\d+)?)\s*\\times\s*10\^\{?(-?\d+)\}?")
_SCRIPT = re.compile(r"([\^_])\{([^{}\\]*)\}")  # after the commands inside are gone
_OPERATORS = {
    "to": "->", "rightarrow": "->", "mapsto": "->", "leftarrow": "<-", "times": "x",
    "cdot": "*", "le": "<=", "leq": "<=", "ge": ">=", "geq": ">=", "ne": "!=", "neq": "!=",
    "pm": "+/-", "approx": "~", "in": "in", "propto": "~",
}
_WORDS = {
    "infty": "inf", "ldots": "...", "dots": "...", "cdots": "...", "allowbreak": "",
    "quad": " ", "qquad": " ", "left": "", "right": "", "bigl": "", "bigr": "", "big": "",
    "Big": "", "displaystyle": "", "textstyle": "", "ell": "l", "prime": "'",
}
_COMMAND = re.compile(r"\\([A-Za-z]+)( ?)")
_ESCAPED = {"\\_": "_", "\\%": "%", "\\&": "&", "\\#": "#", "\\$": "$", "\\{": "{", "\\}": "}"}


def plain_text(text: str) -> str:
    r"""A LaTeX sentence made readable on a terminal.

    ``$\operatorname{Var}[\phi(z)]$`` becomes ``Var[phi(z)]``, ``$\tfrac12$``
    becomes ``1/2``, ``$z \to -\infty$`` becomes ``z -> -inf`` and
    ``$7.6 \times 10^{-4}$`` becomes ``7.6e-4``.
    """
    held = {}
    for i, (escaped, char) in enumerate(_ESCAPED.items()):
        held[f"\x00{i}\x00"] = char
        text = text.replace(escaped, f"\x00{i}\x00")
    text = re.sub(r"\\[,;:!> ]", " ", text)
    previous = None
    while previous != text:  # innermost first: \mathrm{\hat{x}}, \frac{\sqrt{2}}{n}
        previous = text
        text = _FORMAT.sub(lambda m: m.group(1), text)
        text = _TIMES_TEN.sub(lambda m: f"{m.group(1)}e{m.group(2)}", text)
        text = _SCRIPT.sub(lambda m: m.group(1) + _script(m.group(2)), text)
        text = _FRAC.sub(lambda m: f"{_operand(m.group(1))}/{_operand(m.group(2))}", text)
        text = _SQRT.sub(lambda m: f"sqrt({_unbraced(m.group(1))})", text)
        text = _ACCENT.sub(_accent, text)
    text = _COMMAND.sub(_command, text)
    for token in ("$", "{", "}"):
        text = text.replace(token, "")
    for key, char in held.items():
        text = text.replace(key, char)
    return " ".join(text.split())


def _unbraced(text: str) -> str:
    return text[1:-1] if text.startswith("{") and text.endswith("}") else text


def _operand(text: str) -> str:
    text = _unbraced(text).strip()
    return text if re.fullmatch(r"[\w.\\]+|\(.*\)", text) else f"({text})"


def _script(text: str) -> str:
    return text if re.fullmatch(r"-?[\w.]+|\(.*\)", text) else f"({text})"


def _accent(match: re.Match[str]) -> str:
    kind, body = match.group(1), _unbraced(match.group(2))
    if display_width(body) == 1 and body[0].isalpha():
        return body + _COMBINING[kind]
    return f"{kind}({body})"


def _command(match: re.Match[str]) -> str:
    name, space = match.groups()
    if name in _OPERATORS:
        return f" {_OPERATORS[name]} "
    if name in _WORDS:
        return _WORDS[name]
    return name + space


def display_width(text: str) -> int:
    """Terminal columns of ``text``: combining accents take none."""
    return sum(not unicodedata.combining(char) for char in text)


def pad(text: str, width: int) -> str:
    return text + " " * max(width - display_width(text), 0)


_SUPERSCRIPTS = dict(zip(
    "0123456789+-=(),ABDEGHIJKLMNOPRTUVWabcdefghijklmnoprstuvwxyz",
    "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾˒ᴬᴮᴰᴱᴳᴴᴵᴶᴷᴸᴹᴺᴼᴾᴿᵀᵁⱽᵂᵃᵇᶜᵈᵉᶠᵍʰⁱʲᵏˡᵐⁿᵒᵖʳˢᵗᵘᵛʷˣʸᶻ",
    strict=True,
))


def _superscript(match: re.Match[str]) -> str:
    body = match.group(1) if match.group(1) is not None else match.group(2)
    if all(char in _SUPERSCRIPTS for char in body):
        return "".join(_SUPERSCRIPTS[char] for char in body)
    return f"\u02c4({body})"  # a caret SymPy leaves alone


def readable_symbols(value):
    r"""``value`` with LaTeX symbol names (``\hat{y}``, ``\mu^{\mathrm{GN}}``) made plain.

    Only for printing: the result is not used for any computation.
    """
    import sympy as sp

    def plain(name: str) -> str:
        from sympy.printing.pretty.pretty_symbology import greek_unicode

        text = plain_text(re.sub(r"\\([A-Za-z]+)",
                                  lambda m: greek_unicode.get(m.group(1), m.group(0)), name))
        # mu^(GN) -> μᴳᴺ: SymPy would print mu^GN as μ__GN.
        return re.sub(r"\^\(([^()]*)\)|\^(\w+)", _superscript, text)

    def renamed(atom):
        if type(atom) in (sp.Symbol, sp.Dummy) and "\\" in atom.name:
            return sp.Symbol(plain(atom.name), **atom.assumptions0)
        if isinstance(atom, sp.MatrixSymbol) and "\\" in atom.name:
            return sp.MatrixSymbol(plain(atom.name), *atom.shape)
        return None

    try:
        swaps = {}
        for atom in sp.preorder_traversal(value):
            new = renamed(atom)
            if new is not None:
                swaps[atom] = new
        return value.xreplace(swaps) if swaps else value
    except Exception:  # printing must never fail because of a cosmetic renaming
        return value
