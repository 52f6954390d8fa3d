"""Tables of a sweep's runs as text, written by pandas: Markdown by `DataFrame.to_markdown`
(tabulate) and LaTeX by `Styler.to_latex` (jinja2), every value first turned into the same
text (`format_value`: 4 significant digits, NaN as an em dash, booleans as yes/no).

Markdown (`markdown_table`): a GitHub table, every column left-aligned and as wide as its
widest entry, byte for byte what this module wrote by hand before. Tabulate pads each header by
two spaces (its module constant `MIN_PADDING`, which no parameter reaches); the writer sets it
to 0 for the call, so that a column is as wide as its widest entry and not its header plus 2.

LaTeX (`latex_grouped_table`): a booktabs table spanning the page (`table*`) under a header
row of column groups. Styler writes the environment, the caption and label, the rules
(`\\toprule`, `\\midrule`, `\\bottomrule`), the group row (`\\multicolumn{n}{c}{title}`, from
two-level columns), the escaping and the bold entries (`\\textbf`). Three lines that Styler
has no option for are added around what it writes: the comment naming the packages the table
needs (first line), `\\cmidrule(lr){a-b}` under each titled group (Styler rules only the rows'
index), and `\\resizebox{\\textwidth}{!}{%` ... `}` around the tabular, which scales a wide
table to the page. What differs from the table written by hand before, all Styler's layout:
the caption and label stand above the tabular (booktabs' advice for tables), `\\small` follows
them (so the caption keeps the class's size), and the untitled group over the configuration
columns is one empty `\\multicolumn{n}{c}{}` instead of n empty cells (typeset the same)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import pandas as pd
import tabulate

LATEX_COMMENT = r"% needs \usepackage{booktabs,graphicx}; scaled to the text width of the page"
BOLD = "textbf:--rwrap;"  # Styler's LaTeX cell style: \textbf{<entry>}


def format_value(value: object, digits: int = 4) -> str:
    """Numbers to `digits` significant digits, NaN/None as an em dash, booleans as yes/no."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def mean_std(values: pd.Series | np.ndarray, digits: int = 3) -> str:
    """'mean ± std' (sample std) of the finite values, the mean to `digits` significant digits
    and the std to 2; the value alone for one; '—' for none."""
    data = np.asarray(values, dtype=float)
    data = data[np.isfinite(data)]
    if len(data) == 0:
        return "—"
    if len(data) == 1:
        return f"{data[0]:.{digits}g}"
    return f"{data.mean():.{digits}g} ± {data.std(ddof=1):.2g}"


def markdown_table(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> str:
    """A GitHub-flavoured Markdown table of `frame` (all columns, or `columns`): the header, a
    rule of dashes, a row per row; every cell `format_value`'s text, left-aligned."""
    shown = frame[list(columns or frame.columns)].map(format_value)
    with _header_padding(0):
        text = shown.to_markdown(index=False, tablefmt="github", disable_numparse=True,
                                 preserve_whitespace=True)
    return text + "\n"


@contextmanager
def _header_padding(spaces: int) -> Iterator[None]:
    """Tabulate's extra width of a column over its header (`tabulate.MIN_PADDING`) for the
    duration of the block."""
    before = tabulate.MIN_PADDING
    tabulate.MIN_PADDING = spaces
    try:
        yield
    finally:
        tabulate.MIN_PADDING = before


def latex_grouped_table(frame: pd.DataFrame, bold: pd.DataFrame,
                        groups: Sequence[tuple[str, int]], caption: str = "",
                        label: str = "") -> str:
    """A booktabs LaTeX table (page-wide, scaled to the text width) of `frame` under a header
    row of column groups [(title, width)], in order, each titled group ruled with
    `\\cmidrule`; entries where `bold` (same shape) is True are set in bold. Column names that
    start with their group's title show the rest only ('adding T=10' under 'adding' reads
    'T=10'). Every entry is `format_value`'s text, escaped for LaTeX, '±' as `$\\pm$` and '—'
    as '--'."""
    columns = pd.MultiIndex.from_tuples(_grouped_names(frame.columns, groups))
    styles = bold.set_axis(columns, axis=1).map(lambda marked: BOLD if marked else "")
    styler = (frame.set_axis(columns, axis=1).style
              .hide(axis="index")
              .format(_latex_text, escape="latex")
              .format_index(_latex_text, escape="latex", axis=1)
              .apply(lambda _: styles, axis=None)
              .set_table_styles([{"selector": "small", "props": ":;"}]))
    latex = styler.to_latex(column_format="l" * len(columns), position="t",
                            position_float="centering", hrules=True, environment="table*",
                            caption=_escaped(caption) or None, label=label or None,
                            multicol_align="c")
    lines = latex.splitlines()
    lines.insert(lines.index(r"\toprule") + 2, _group_rules(groups))  # under the group row
    tabular = next(i for i, line in enumerate(lines) if line.startswith(r"\begin{tabular}"))
    lines.insert(tabular, r"\resizebox{\textwidth}{!}{%")
    lines[lines.index(r"\end{tabular}")] += "}"
    return "\n".join([LATEX_COMMENT, *lines]) + "\n"


def _grouped_names(names: Sequence[str], groups: Sequence[tuple[str, int]]
                   ) -> list[tuple[str, str]]:
    """(group title, column name shown) per column: a name that starts with its group's title
    shows the rest only."""
    pairs, start = [], 0
    for title, width in groups:
        for name in names[start:start + width]:
            shown = name[len(title):].strip() if title and name.startswith(title) else name
            pairs.append((title, shown))
        start += width
    return pairs


def _group_rules(groups: Sequence[tuple[str, int]]) -> str:
    """`\\cmidrule(lr){first-last}` under each titled group (columns counted from 1)."""
    rules, first = [], 1
    for title, width in groups:
        if title:
            rules.append(r"\cmidrule(lr){" + f"{first}-{first + width - 1}" + "}")
        first += width
    return " ".join(rules)


def _latex_text(value: object) -> str:
    """A table entry (already escaped by Styler, if text) as LaTeX: `format_value`'s text,
    '±' in math mode, the em dash of an empty entry as an en dash."""
    return format_value(value).replace("±", r"$\pm$").replace("—", "--")


def _escaped(text: str) -> str:
    """Caption text as LaTeX (Styler writes the caption as it is given): backslashes,
    underscores and percent signs escaped, '±' and '—' as in the entries."""
    text = text.replace("\\", r"\textbackslash{}").replace("_", r"\_").replace("%", r"\%")
    return text.replace("±", r"$\pm$").replace("—", "--")
