"""The tables' writers (`rnnmem.reporting.tables`): pandas writes them, to the exact bytes below.

The Markdown is byte for byte the table written by hand before pandas wrote it; the LaTeX
differs from it only where Styler lays a table out its own way (caption and label above the
tabular, `\\small` after them, one empty `\\multicolumn` over the untitled group)."""

from __future__ import annotations

import pandas as pd
import tabulate

from rnnmem.reporting.tables import latex_grouped_table, markdown_table, mean_std


def test_markdown_columns_are_as_wide_as_their_widest_entry_and_values_read_as_text():
    frame = pd.DataFrame({"run": ["adding/gru-s0", "copy/rnn-s1"], "T": [10, 200],
                          "test_mse": [0.000123456, float("nan")], "solved": [True, False],
                          "note": [None, " kept "]})
    assert markdown_table(frame) == (
        "| run           | T   | test_mse  | solved | note   |\n"
        "|---------------|-----|-----------|--------|--------|\n"
        "| adding/gru-s0 | 10  | 0.0001235 | yes    | —      |\n"
        "| copy/rnn-s1   | 200 | —         | no     |  kept  |\n")
    assert tabulate.MIN_PADDING == 2, "tabulate's own padding is restored after the call"


def test_markdown_of_chosen_columns_and_of_no_rows():
    frame = pd.DataFrame({"a": [1.5], "bb": ["x"]})
    assert markdown_table(frame, ["bb"]) == "| bb |\n|----|\n| x  |\n"
    assert markdown_table(frame.iloc[:0]) == "| a | bb |\n|---|----|\n"


def test_latex_table_groups_columns_bolds_entries_and_escapes_text():
    table = pd.DataFrame({"cell": ["LSTM", "GRU"], "hidden_size": [8, 16],
                          "adding T=10": ["0.1 ± 0.02", "—*"], "adding span": ["3.0", "—"]})
    bold = pd.DataFrame(False, index=table.index, columns=table.columns)
    bold.loc[0, "adding T=10"] = True
    latex = latex_grouped_table(table, bold, [("", 2), ("adding", 2)],
                                caption="MSE ± std; 50% of x_1", label="tab:x")
    assert latex == "\n".join([
        r"% needs \usepackage{booktabs,graphicx}; scaled to the text width of the page",
        r"\begin{table*}[t]",
        r"\centering",
        r"\caption{MSE $\pm$ std; 50\% of x\_1}",
        r"\small",
        r"\label{tab:x}",
        r"\resizebox{\textwidth}{!}{%",
        r"\begin{tabular}{llll}",
        r"\toprule",
        r"\multicolumn{2}{c}{} & \multicolumn{2}{c}{adding} \\",
        r"\cmidrule(lr){3-4}",
        r"cell & hidden\_size & T=10 & span \\",
        r"\midrule",
        r"LSTM & 8 & \textbf{0.1 $\pm$ 0.02} & 3.0 \\",
        r"GRU & 16 & --* & -- \\",
        r"\bottomrule",
        r"\end{tabular}}",
        r"\end{table*}",
        ""])


def test_latex_table_rules_every_titled_group():
    table = pd.DataFrame([["a", "1", "2", "3", "4", "5"]],
                         columns=["cell", "adding T=1", "adding span", "copy T=1", "copy T=2",
                                  "copy span"])
    bold = pd.DataFrame(False, index=table.index, columns=table.columns)
    latex = latex_grouped_table(table, bold, [("", 1), ("adding", 2), ("copy", 3)])
    lines = latex.splitlines()
    assert r"\cmidrule(lr){2-3} \cmidrule(lr){4-6}" in lines
    assert r"\multicolumn{2}{c}{adding} & \multicolumn{3}{c}{copy} \\" in lines[lines.index(
        r"\toprule") + 1]
    assert r"\caption" not in latex and r"\label" not in latex


def test_mean_std_uses_the_sample_std_of_the_finite_values():
    assert mean_std([1.0, 2.0, float("nan"), 3.0]) == "2 ± 1"
    assert mean_std([0.123456]) == "0.123"
    assert mean_std([float("nan")]) == "—"
