r"""Docstrings as plain text for a terminal: what ``optimkit show`` and ``optimkit --help`` print.

The docstrings are written in reStructuredText for the generated reference (``docs/reference.md``
turns them into Markdown); a terminal shows neither, so here

* inline markup loses its markers: ````x```` becomes ``x``, ``:class:`~a.b.Adam``` becomes
  ``Adam``, ``:math:`\beta_1``` becomes ``β₁``;
* ``.. math::`` blocks become indented lines of Unicode (``θₜ ← θₜ₋₁ − γ·g``): ``aligned``
  rows one per line, ``cases`` rows indented under the line that opens them, ``\frac{a}{b}`` as
  ``a/(b)``, Greek letters and operators as their symbols, simple sub- and superscripts as
  Unicode ones (``\beta_1^t`` is ``β₁ᵗ``; ``x_{n+k}`` stays ``x_(n+k)`` when a character has no
  subscript form);
* paragraphs are re-wrapped to the width.

It is deliberately small: the LaTeX here is what the docstrings of this project use, and anything
unknown is left readable (a backslash command keeps its name without the backslash).

Example:
    >>> from optimkit._text import plain, latex
    >>> plain("As ``torch.optim.AdamW``: the decoupled branch of :class:`~optimkit.optim.Adam`.")
    'As torch.optim.AdamW: the decoupled branch of Adam.'
    >>> latex(r"\theta_t \leftarrow \theta_{t-1} - \frac{\gamma}{1-\beta_1^t}\, m_t")
    'θₜ ← θₜ₋₁ − γ/(1 − β₁ᵗ) mₜ'
"""

from __future__ import annotations

import inspect
import re
import textwrap

__all__ = ["docstring_text", "latex", "plain", "sentence"]

_SYMBOLS = {
    # Greek (lower, then the capitals that have their own glyph)
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε",
    "zeta": "ζ", "eta": "η", "theta": "θ", "iota": "ι", "kappa": "κ", "lambda": "λ", "mu": "μ",
    "nu": "ν", "xi": "ξ", "pi": "π", "rho": "ρ", "sigma": "σ", "tau": "τ", "phi": "φ",
    "varphi": "φ", "chi": "χ", "psi": "ψ", "omega": "ω",
    "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ", "Pi": "Π", "Sigma": "Σ", "Phi": "Φ",
    "Psi": "Ψ", "Omega": "Ω",
    # relations, arrows, operators
    "leftarrow": "←", "gets": "←", "rightarrow": "→", "to": "→", "Rightarrow": "⇒",
    "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥", "neq": "≠", "ne": "≠", "approx": "≈",
    "pm": "±", "mp": "∓", "times": "×", "cdot": "·", "odot": "⊙", "circ": "∘", "in": "∈",
    "nabla": "∇", "partial": "∂", "infty": "∞", "sum": "Σ", "prod": "∏", "dots": "…",
    "ldots": "…", "cdots": "⋯", "lVert": "‖", "rVert": "‖", "Vert": "‖", "lvert": "|",
    "rvert": "|", "lfloor": "⌊", "rfloor": "⌋", "lceil": "⌈", "rceil": "⌉", "top": "ᵀ",
    "langle": "⟨", "rangle": "⟩",
    # spacing
    "quad": "  ", "qquad": "    ",
    # named functions
    "max": "max", "min": "min", "cos": "cos", "sin": "sin", "exp": "exp", "log": "log",
    "ln": "ln", "sqrt": "√", "sign": "sign", "argmin": "argmin", "argmax": "argmax",
}
# Sizing commands only change how tall a bracket is drawn.
_DROP = {"left", "right", "big", "bigl", "bigr", "Big", "Bigl", "Bigr", "bigg", "biggl", "biggr",
         "displaystyle", "textstyle", "limits", "nolimits"}
_TEXT = {"text", "textit", "textbf", "textrm", "texttt", "mathrm", "mathbf", "mathit", "operatorname",
         "mathcal", "boldsymbol", "mbox"}
_ACCENTS = {"hat": "\u0302", "bar": "\u0304", "tilde": "\u0303", "dot": "\u0307", "vec": "\u20d7"}
_SUB = dict(zip("0123456789+-=()aehijklmnoprstuvx", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ"))
_SUP = dict(zip("0123456789+-=()abcdefghijklmnoprstuvwxyzT", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ᵃᵇᶜᵈᵉᶠᵍʰⁱʲᵏˡᵐⁿᵒᵖʳˢᵗᵘᵛʷˣʸᶻᵀ"))
# Markers left by _cases() for latex(): a row of a ``cases`` block starts, the block ends, a cell ends.
_ROW, _END, _CELL = "\x00", "\x01", "\x02"


def _group(src: str, start: int) -> tuple[str, int]:
    """The argument at ``src[start:]`` (after spaces): a ``{...}`` group or one token; and the
    index after it."""
    i = start
    while i < len(src) and src[i] == " ":
        i += 1
    if i >= len(src):
        return "", i
    if src[i] == "{":
        depth = 0
        for j in range(i, len(src)):
            depth += {"{": 1, "}": -1}.get(src[j], 0)
            if depth == 0:
                return src[i + 1 : j], j + 1
        return src[i + 1 :], len(src)
    if src[i] == "\\":
        match = re.match(r"\\([A-Za-z]+|.)", src[i:])
        assert match is not None
        return match.group(0), i + len(match.group(0))
    return src[i], i + 1


def _needs_parens(text: str) -> bool:
    # A fraction's part needs brackets when it is more than one symbol with its scripts.
    return bool(re.search(r"[\s+\-−/·×]", text.strip()))


def _script(text: str, table: dict[str, str], marker: str) -> str:
    """``text`` as Unicode sub- or superscript characters, or ``marker(text)`` where one is missing."""
    text = text.strip()
    if text and all(c in table.values() for c in text):  # already a script character (``^\\top``)
        return text
    # Words (``\\eta_{\\min}``) read better as ``_min`` than in tiny letters.
    if text and not re.search(r"[A-Za-z]{2}", text) and all(c in table for c in text.replace("−", "-")):
        return "".join(table[c] for c in text.replace("−", "-"))
    if len(text) == 1 or text.isalnum():
        return f"{marker}{text}"
    return f"{marker}({text})"


def _convert(src: str) -> str:
    """The LaTeX in ``src`` as Unicode text (recursive over groups)."""
    out: list[str] = []
    i = 0
    while i < len(src):
        c = src[i]
        if c == "\\":
            match = re.match(r"\\([A-Za-z]+|.)", src[i:])
            assert match is not None
            name = match.group(1)
            i += len(match.group(0))
            if name in ("frac", "dfrac", "tfrac"):
                top, i = _group(src, i)
                bottom, i = _group(src, i)
                a, b = _convert(top), _convert(bottom)
                out.append(f"{f'({a})' if _needs_parens(a) else a}/{f'({b})' if _needs_parens(b) else b}")
            elif name == "sqrt":
                arg, i = _group(src, i)
                inner = _convert(arg)
                # √x and √v̂ₜ (accents are combining characters: they do not count), else √(...).
                short = len(re.sub("[\u0300-\u036f\u20d7]", "", inner)) <= 2
                out.append(f"√{inner}" if short and not _needs_parens(inner) else f"√({inner})")
            elif name in _TEXT:
                arg, i = _group(src, i)
                # Text is taken as written, bar its escapes (``\\text{match\\_rms}``).
                out.append(_convert(arg) if name not in ("text", "textrm", "mbox") else re.sub(r"\\(.)", r"\1", arg))
            elif name in _ACCENTS:
                arg, i = _group(src, i)
                inner = _convert(arg)
                out.append(inner[:1] + _ACCENTS[name] + inner[1:])
            elif name in ("begin", "end"):
                _, i = _group(src, i)  # environments are laid out by latex()
            elif name in _DROP:
                continue
            elif name in (",", ";", ":", " ", "!"):
                out.append("" if name == "!" else " ")
            elif name in ("{", "}", "_", "#", "%", "&", "$"):
                out.append(name)
            elif name == "\\":
                out.append("\n")
            else:
                out.append(_SYMBOLS.get(name, name))
                # ``\max(`` or ``\eta m``: a command ends at the next character, keep words apart.
                if name in _SYMBOLS and _SYMBOLS[name].isalpha() and i < len(src) and src[i].isalpha():
                    out.append(" ")
        elif c in "_^":
            arg, i = _group(src, i + 1)
            inner = _convert(arg)
            out.append(_script(inner, _SUB if c == "_" else _SUP, c))
        elif c in "{}":
            i += 1
        elif c == "-":
            out.append("−")
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _spaced(text: str) -> str:
    # Binary operators get a space on each side; a leading minus or ± (a sign) does not.
    text = re.sub(r"(?<=[^\s(\[{,=←≤≥])\s*([+−])\s*(?=\S)", r" \1 ", text)
    text = re.sub(r"\s*([=←≤≥≠→])\s*", r" \1 ", text)
    return re.sub(r"[ \t]+", " ", text).strip()


def _cases(src: str) -> str:
    """``\\begin{cases} a & b \\\\ c & d \\end{cases}`` as rows marked for their own lines."""

    def rows(match: re.Match[str]) -> str:
        body = match.group(1)
        lines = [row.split("&") for row in re.split(r"\\\\", body) if row.strip()]
        return "".join(_ROW + _CELL.join(cell.strip() for cell in row) for row in lines) + _END

    return re.sub(r"\\begin\{cases\}(.*?)\\end\{cases\}", rows, src, flags=re.S)


def latex(src: str) -> str:
    r"""A LaTeX formula as plain Unicode text; rows of ``aligned``/``cases`` on their own lines.

    Example:
        >>> from optimkit._text import latex
        >>> print(latex(r"\begin{aligned} & m_t \leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t \\"
        ...             r" & \hat v_t \leftarrow \max(\hat v_{t-1}, v_t) \end{aligned}"))
        mₜ ← β₁ mₜ₋₁ + (1 − β₁) gₜ
        v̂ₜ ← max(v̂ₜ₋₁, vₜ)
        >>> latex(r"\eta_t = \eta_{\min} + \tfrac{1}{2}(\eta_0 - \eta_{\min})")
        'ηₜ = η_min + 1/2(η₀ − η_min)'
    """
    src = _cases(src.replace("\n", " "))
    lines: list[str] = []
    block: list[list[str]] = []  # the rows of the current ``cases`` block, laid out together

    def flush() -> None:
        # The conditions of a ``cases`` block line up after its widest value.
        width = max((len(row[0]) for row in block if len(row) > 1), default=0)
        for row in block:
            lines.append("    " + (row[0].ljust(width) + "    " + "    ".join(row[1:]) if len(row) > 1 else row[0]))
        block.clear()

    for row in re.split(r"\\\\", src):
        in_case = False
        for part in re.split(f"([{_ROW}{_END}])", row):
            if part in (_ROW, _END):
                in_case = part == _ROW
                if not in_case:
                    flush()
                continue
            if in_case:
                # A ``cases`` row, indented under the line that opens it, its condition after a gap.
                block.append([c for c in (_spaced(_convert(cell)) for cell in part.split(_CELL)) if c])
            else:
                # What follows a ``cases`` block (``, \\alpha_t = ...``) starts a line of its own.
                text = _spaced(_convert(part.replace("&", " "))).lstrip(",; ")
                if text:
                    lines.append(text)
    flush()
    return "\n".join(line.rstrip() for line in lines if line.strip())


def plain(text: str) -> str:
    r"""reStructuredText inline markup as plain text (one paragraph; line breaks are kept).

    Example:
        >>> from optimkit._text import plain
        >>> plain(":func:`optimkit.lr_finder.range_test` with :math:`\\beta_1 = 0.9` and *care*")
        'optimkit.lr_finder.range_test with β₁ = 0.9 and care'
    """
    text = re.sub(r":math:`([^`]+)`", lambda m: latex(m.group(1)).replace("\n", " "), text)
    text = re.sub(r":[a-z]+(?::[a-z]+)?:`~[^`]*?([^.`]+)`", r"\1", text)
    text = re.sub(r":[a-z]+(?::[a-z]+)?:`([^`<]*?)\s*(?:<[^`]*>)?`", r"\1", text)
    text = re.sub(r"``([^`]+)``", r"\1", text)
    text = re.sub(r"`([^`]+)`_?", r"\1", text)
    # reST escapes: ``\ `` joins (``compile\ d`` is "compiled"), ``\_`` is a plain underscore.
    text = re.sub(r"\\(.)", lambda m: "" if m.group(1) == " " else m.group(1), text)
    return re.sub(r"(?<![\w*])\*\*?([^*\s][^*]*?)\*\*?(?![\w*])", r"\1", text)


def sentence(text: str) -> str:
    """``text`` as a sentence: a capital first letter (unless it starts with a digit or a name
    with capitals inside) and a full stop.

    Example:
        >>> from optimkit._text import sentence
        >>> sentence("decay by gamma every step_size steps"), sentence("1cycle policy")
        ('Decay by gamma every step_size steps.', '1cycle policy.')
    """
    text = text.strip()
    if not text:
        return text
    first = text.split()[0]
    if first.islower():
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


_SECTION = re.compile(r"^(Args|Arguments|Parameters|Returns|Yields|Raises|Example|Examples|Attributes|Note|Notes"
                      r"|Warning|See Also|References)\s*:\s*$")


def docstring_text(doc: str | None, width: int = 100, *, indent: str = "") -> str:
    r"""The prose and the math of a docstring (everything before its ``Args:``/``Example:``
    sections) as plain text: paragraphs wrapped to ``width``, math indented by four spaces,
    bullet items kept.

    Example:
        >>> from optimkit._text import docstring_text
        >>> doc = r'''Plain SGD, as ``torch.optim.SGD``:
        ...
        ... .. math::
        ...    \theta_t \leftarrow \theta_{t-1} - \gamma g_t
        ...
        ... Args:
        ...     lr: the step size.
        ... '''
        >>> print(docstring_text(doc))
        Plain SGD, as torch.optim.SGD:
        <BLANKLINE>
            θₜ ← θₜ₋₁ − γ gₜ
    """
    if not doc:
        return ""
    lines = inspect.cleandoc(doc).splitlines()
    blocks: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if _SECTION.match(stripped):
            break
        if not stripped:
            i += 1
            continue
        base = len(line) - len(line.lstrip())
        if stripped.startswith(".. math::"):
            body = [stripped[len(".. math::"):]]
            i += 1
            while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > base):
                body.append(lines[i])
                i += 1
            formula = latex("\n".join(body))
            blocks.append("\n".join(indent + "    " + row for row in formula.splitlines()))
            continue
        if stripped.startswith(".. "):  # another directive (a note, a code block): skip it
            i += 1
            while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > base):
                i += 1
            continue
        paragraph = [stripped]
        i += 1
        while i < len(lines) and lines[i].strip() and not lines[i].strip().startswith(".. "):
            paragraph.append(lines[i].strip())
            i += 1
        blocks.append(_wrap_paragraph(paragraph, width, indent))
    return "\n\n".join(blocks)


def _wrap_paragraph(lines: list[str], width: int, indent: str) -> str:
    """Wrap a paragraph; bullet items (``- `` or ``* ``) each wrapped with a hanging indent."""
    items: list[list[str]] = []
    for line in lines:
        if re.match(r"[-*] ", line) or not items:
            items.append([line])
        else:
            items[-1].append(line)
    out = []
    for item in items:
        text = plain(" ".join(item))
        bullet = re.match(r"[-*] ", text)
        hanging = indent + ("  " if bullet else "")
        # The literal "::" that ends a reST paragraph before a code block reads as ":".
        text = re.sub(r"::$", ":", text)
        out.append(textwrap.fill(text, width=width, initial_indent=indent, subsequent_indent=hanging,
                                 break_on_hyphens=False, break_long_words=False))
    return "\n".join(out)
