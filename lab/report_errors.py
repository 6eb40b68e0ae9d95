r"""The course report's written derivations, checked line by line: each mistake with the report's line and the
correct one (LaTeX), and why. Text only (no Streamlit, no numbers), shown by the two math pages.

The report's lines are as printed (its indices kept, its ``e^{0_k}`` read as e^{o_k}). The correct lines use the
notation of every page of the lab: rows are examples; i indexes a probability p_i, j a logit o_j, and k only sums
over the K classes; the indicator 1[i = j] (no Kronecker delta: δ names the error signals δ_o, δ_h); y is the
one-hot row and c (c_n for example n) the integer class.
"""

from __future__ import annotations

from typing import NamedTuple


class Mistake(NamedTuple):
    title: str
    report: str  # the report's line, LaTeX
    correct: str  # the correct line, LaTeX
    why: str  # markdown


S = r"\sum_{k=1}^{K} e^{o_k}"  # the softmax denominator
NEXT = r" \\ & "  # a second line of the same side (inside the pages' aligned report/correct block)

SOFTMAX_MISTAKES = (
    Mistake("The softmax is written without its index",
            rf"p = \frac{{e^{{o_j}}}}{{{S}}}",
            rf"p_i = \frac{{e^{{o_i}}}}{{{S}}}",
            "Which probability is meant is never said, so the p_j and p_k of the later lines have no definition."),
    Mistake("The chain rule is first written with one path",
            r"\frac{\partial L}{\partial o_k} = \frac{\partial L}{\partial p_k}\frac{\partial p_k}{\partial o_k}",
            r"\frac{\partial L}{\partial o_j} = \sum_{k=1}^{K} \frac{\partial L}{\partial p_k}"
            r"\frac{\partial p_k}{\partial o_j}",
            "Every p_k depends on o_j through the denominator, so L depends on o_j along K paths. The report does "
            "add the paths up later (mistake 7), but there it sums over the same k that names the logit."),
    Mistake("A sum inside ∂L/∂p_k",
            r"\frac{\partial L}{\partial p_k} = -\sum_{k=1}^{K} \frac{y_k}{p_k}",
            r"\frac{\partial L}{\partial p_i} = -\frac{y_i}{p_i}",
            "Of the K terms of L = −Σ_k y_k log p_k only one contains p_i; the report's sum also reuses the free "
            "index k as its summation index."),
    Mistake("∂p_k/∂o_k where ∂p_k/∂o_j is meant",
            r"\frac{\partial p_k}{\partial o_k} = \begin{cases} \dfrac{\partial}{\partial o_k}"
            rf"\Big(\dfrac{{e^{{o_k}}}}{{{S}}}\Big) & k = j \\ \dfrac{{\partial}}{{\partial o_k}}"
            rf"\Big(\dfrac{{e^{{o_k}}}}{{{S}}}\Big) & k \neq j \end{{cases}}",
            rf"\frac{{\partial p_i}}{{\partial o_j}} = \dfrac{{\partial}}{{\partial o_j}}"
            rf"\Big(\frac{{e^{{o_i}}}}{{{S}}}\Big)"
            r"\quad \text{with the cases } i = j \text{ and } i \neq j",
            "Both cases differentiate p_k by its own logit o_k, so the case that matters, p_k by another logit o_j, "
            "never appears; and the denominator's summation index is the free k again."),
    Mistake("The quotient rule divided by ∂o_k",
            rf"\begin{{cases}} \dfrac{{e^{{o_k}} {S} - e^{{o_k}} e^{{o_k}}}}{{\partial o_k}} & k \neq j \\"
            rf"\dfrac{{\partial}}{{\partial o_k}}\Big(\dfrac{{e^{{o_k}}}}{{{S}}}\Big)^2 & k \neq j \end{{cases}}",
            rf"\begin{{cases}} \dfrac{{e^{{o_i}} {S} - e^{{o_i}} e^{{o_i}}}}{{\big({S}\big)^2}} & i = j \\"
            rf"\dfrac{{0 - e^{{o_i}} e^{{o_j}}}}{{\big({S}\big)^2}} & i \neq j \end{{cases}}",
            "The quotient rule (u/v)′ = (u′v − uv′)/v² divides by the squared denominator (Σ_k e^(o_k))², not by "
            "∂o_k; the second case squares the whole fraction instead, and both cases are labelled k ≠ j."),
    Mistake("The k ≠ j case is never worked out",
            rf"\frac{{\partial}}{{\partial o_k}}\,\frac{{{S}\,{S} - e^{{o_k}}}}{{{S}}} \quad (k \neq j)",
            rf"-\frac{{e^{{o_i}}}}{{{S}}}\,\frac{{e^{{o_j}}}}{{{S}}} = -p_i\,p_j \quad (i \neq j)",
            "It still carries a ∂/∂o_k and no e^(o_j) appears, so the report's (right) result −p_j p_k two lines "
            "later does not follow from it. Its results p_k(1 − p_k) and −p_j p_k are the correct Jacobian."),
    Mistake("The sum over paths runs over the free index",
            r"\frac{\partial L}{\partial o_k} = -\sum_{k=1}^{K} \frac{y_k}{p_k}\frac{\partial p_k}{\partial o_k}",
            r"\frac{\partial L}{\partial o_j} = -\sum_{k=1}^{K} \frac{y_k}{p_k}\frac{\partial p_k}{\partial o_j}",
            "The sum of mistake 2 appears here, but over the k that also names the logit, and each term again "
            "differentiates by o_k instead of the one logit o_j."),
    Mistake("A dropped y_k/p_k",
            r"= -\frac{y_j}{p_j}\frac{\partial p_j}{\partial o_j} - \sum_{k \neq j} \frac{\partial p_k}{\partial o_j}",
            r"= -\frac{y_j}{p_j}\frac{\partial p_j}{\partial o_j} - \sum_{k \neq j} \frac{y_k}{p_k}"
            r"\frac{\partial p_k}{\partial o_j}",
            "Splitting the sum into k = j and k ≠ j keeps the factor y_k / p_k in every term."),
    Mistake("A dropped 1/p_k",
            r"= -\frac{y_j}{p_j}\,p_j(1 - p_j) - \sum_{k \neq j} y_k\,(-p_k p_j)",
            r"= -\frac{y_j}{p_j}\,p_j(1 - p_j) - \sum_{k \neq j} \frac{y_k}{p_k}\,(-p_k p_j)",
            "As printed the sum is p_j Σ_{k≠j} y_k p_k. The report's next line, −y_j + y_j p_j + p_j Σ_{k≠j} y_k, "
            "is right, but it follows from the corrected line, where p_k cancels."),
    Mistake("The last line",
            r"-y_j + p_j\Big(y_j + \sum_{k \neq j} y_k\Big) = -y_j - y_j",
            r"-y_j + p_j\Big(y_j + \sum_{k \neq j} y_k\Big) = -y_j + p_j \cdot 1 = p_j - y_j",
            "The bracket is Σ_k y_k = 1 for a one-hot target, which leaves p_j − y_j. The report's −2y_j is 0 for "
            "every wrong class, so it would never push a wrong class's logit down."),
)

BACKPROP_MISTAKES = (
    Mistake("No 1/N in the written derivation",
            r"\frac{\partial L}{\partial o} = p_j - y_j",
            r"\delta_o = \frac{\partial L}{\partial o} = \frac{p - y}{N} \qquad (N \times K)",
            "L is the average over the N examples of the batch, so every gradient carries 1/N. The report's code "
            "divides by `target.shape[0]`; its derivation never does (and writes one entry p_j − y_j for the row)."),
    Mistake("∂L/∂w_o without the outer product",
            r"\frac{\partial L}{\partial w_o} = (p_j - y_j)\,h",
            r"\frac{\partial L}{\partial w_o} = (p - y)\,h^\top \ \text{(its columns)}"
            rf"{NEXT}\frac{{\partial L}}{{\partial W_o}} = h^\top \delta_o \ \text{{(rows, the code)}}",
            "A gradient has the shape of its weight matrix (K × H in the report's column form o = w_o h + b_o): "
            "one entry (p_k − y_k) h_m per weight, the outer product of the two vectors, not a vector times a vector."),
    Mistake("(p − y) w_o without the transpose",
            r"(p_j - y_j)\,w_o\,\frac{\partial h}{\partial w_h}",
            r"\frac{\partial L}{\partial h} = w_o^\top (p - y) \ \text{(columns)}"
            rf"{NEXT}\delta_o W_o^\top \ \text{{(rows, the code)}}",
            "Going back through o = w_o h multiplies by the transpose: w_o is K × H, p − y has K entries, and "
            "∂L/∂h must have H."),
    Mistake("No ∂L/∂w_h derivation; its chain sits under ∂L/∂b_o",
            r"\frac{\partial L}{\partial b_o} = \frac{\partial L}{\partial o}\frac{\partial o}{\partial b_o}"
            r"= (p_j - y_j)\, w_o \frac{\partial h}{\partial w_h} \ \dots",
            rf"\frac{{\partial L}}{{\partial b_o}} = \mathbf 1^\top \delta_o{NEXT}\frac{{\partial L}}{{\partial W_h}}"
            r"= x^\top \delta_h,\ \ \delta_h = (\delta_o W_o^\top) \odot \mathbf 1[z_h > 0]",
            "The report's ∂L/∂b_o heading carries the w_h chain (∂h/∂w_h, the max(w_h x + b_h, 0) cases) and there "
            "is no ∂L/∂w_h heading at all. ∂L/∂b_o is just the column sum of δ_o; ∂L/∂W_h goes back through W_o "
            "and the ReLU, then meets the input x."),
    Mistake("The ReLU's derivative at 0",
            r"\texttt{o[o >= 0] = 1} \;=\; \mathbf 1[z_h \geq 0]",
            r"\mathbf 1[z_h > 0] \ \text{(mlp)}",
            "The report's code overwrites its argument `o` (the hidden pre-activations z_h, not the logits) with the "
            "mask, counting z_h = 0 as on. mlp returns new arrays and counts it as off; any value in [0, 1] is a valid "
            "subgradient at exactly 0, so only pre-activations exactly 0 differ."),
)
