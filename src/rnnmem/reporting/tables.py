"""Plain-text tables (Markdown and LaTeX) of a sweep's runs, with no extra dependencies."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd


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
    """A GitHub-flavoured Markdown table of `frame` (all columns, or `columns`)."""
    columns = list(columns or frame.columns)
    cells = [[format_value(v) for v in row] for row in frame[columns].itertuples(index=False)]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    lines += ["| " + " | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) + " |"
              for r in cells]
    return "\n".join(lines) + "\n"


def latex_grouped_table(frame: pd.DataFrame, bold: pd.DataFrame,
                        groups: Sequence[tuple[str, int]], caption: str = "",
                        label: str = "") -> str:
    """A booktabs LaTeX table (page-wide, scaled to the text width) of the strings of `frame`
    under a header row of column groups
    [(title, width)] (each titled group ruled with \\cmidrule); entries where `bold` is True
    are set in bold. Column names that start with their group's title show the rest only
    ('adding T=10' under 'adding' reads 'T=10')."""

    def escape(text: str) -> str:
        text = text.replace("\\", r"\textbackslash{}").replace("_", r"\_").replace("%", r"\%")
        return text.replace("±", r"$\pm$").replace("—", "--")

    spans, start = [], 1
    for title, width in groups:
        spans.append((title, start, start + width - 1))
        start += width
    names = []
    for (title, first, last) in spans:
        for column in frame.columns[first - 1:last]:
            names.append(column[len(title):].strip() if title and column.startswith(title)
                         else column)
    rows = []
    for values, marks in zip(frame.itertuples(index=False), bold.itertuples(index=False),
                             strict=True):
        cells = [escape(format_value(v)) for v in values]
        rows.append(" & ".join(r"\textbf{" + c + "}" if m else c
                               for c, m in zip(cells, marks, strict=True)) + r" \\")
    group_row = " & ".join(r"\multicolumn{" + f"{last - first + 1}" + "}{c}{" + escape(title)
                           + "}" if title else " & ".join([""] * (last - first + 1))
                           for title, first, last in spans) + r" \\"
    rules = " ".join(r"\cmidrule(lr){" + f"{first}-{last}" + "}"
                     for title, first, last in spans if title)
    lines = [r"% needs \usepackage{booktabs,graphicx}; scaled to the text width of the page",
             r"\begin{table*}[t]", r"\centering", r"\small", r"\resizebox{\textwidth}{!}{%",
             r"\begin{tabular}{" + "l" * len(frame.columns) + "}", r"\toprule", group_row, rules,
             " & ".join(escape(n) for n in names) + r" \\", r"\midrule", *rows,
             r"\bottomrule", r"\end{tabular}}"]
    if caption:
        lines.append(r"\caption{" + escape(caption) + "}")
    if label:
        lines.append(r"\label{" + label + "}")
    lines.append(r"\end{table*}")
    return "\n".join(lines) + "\n"
