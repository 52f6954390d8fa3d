"""One time step of PyTorch's tanh RNN, LSTM and GRU, written out from their documented equations.

The steps read the weights of the fused modules (nn.RNN, nn.LSTM, nn.GRU), so an unrolled loop
over them computes exactly what the fused module computes, with every state h_t (and c_t) a
separate tensor that autograd can differentiate against.

Every step takes xp = x_t W_ih^T + b_ih, the input projection for that step, computed for all
steps at once outside the loop (one matmul instead of T). Gate blocks of xp, W_hh and b_hh are
stacked in PyTorch's order: LSTM (i, f, g, o), GRU (r, z, n).

All steps share one signature, step(xp, h, c, w_hh, b_hh) -> (h', c', gates), so that the loop
that drives them does not depend on the cell: c is the LSTM cell state (None for the RNN and the
GRU) and gates maps a gate's name to its activation at this step (empty for the RNN).
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Gates = dict[str, Tensor]


def rnn_step(
    xp: Tensor, h: Tensor, c: None, w_hh: Tensor, b_hh: Tensor
) -> tuple[Tensor, None, Gates]:
    """Elman RNN with tanh nonlinearity (nn.RNN):

        h' = tanh(W_ih x + b_ih + W_hh h + b_hh)

    xp (B, H), h (B, H), w_hh (H, H), b_hh (H,).
    """
    h = torch.tanh(xp + F.linear(h, w_hh, b_hh))  # (B, H)
    return h, None, {}


def lstm_step(
    xp: Tensor, h: Tensor, c: Tensor, w_hh: Tensor, b_hh: Tensor
) -> tuple[Tensor, Tensor, Gates]:
    """LSTM (nn.LSTM):

        i  = sigmoid(W_ii x + b_ii + W_hi h + b_hi)
        f  = sigmoid(W_if x + b_if + W_hf h + b_hf)
        g  = tanh(W_ig x + b_ig + W_hg h + b_hg)
        o  = sigmoid(W_io x + b_io + W_ho h + b_ho)
        c' = f * c + i * g
        h' = o * tanh(c')

    xp (B, 4H), h (B, H), c (B, H), w_hh (4H, H), b_hh (4H,).
    Returned gates: "input" i, "forget" f, "output" o, each (B, H).
    """
    i, f, g, o = (xp + F.linear(h, w_hh, b_hh)).chunk(4, dim=-1)  # 4 x (B, H)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c = f * c + i * g  # (B, H)
    h = o * torch.tanh(c)  # (B, H)
    return h, c, {"input": i, "forget": f, "output": o}


def gru_step(
    xp: Tensor, h: Tensor, c: None, w_hh: Tensor, b_hh: Tensor
) -> tuple[Tensor, None, Gates]:
    """GRU (nn.GRU):

        r  = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
        z  = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n  = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        h' = (1 - z) * n + z * h

    xp (B, 3H), h (B, H), w_hh (3H, H), b_hh (3H,).
    Returned gates: "reset" r, "update" z, each (B, H).
    """
    x_r, x_z, x_n = xp.chunk(3, dim=-1)  # 3 x (B, H)
    h_r, h_z, h_n = F.linear(h, w_hh, b_hh).chunk(3, dim=-1)  # 3 x (B, H)
    r = torch.sigmoid(x_r + h_r)
    z = torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)
    h = (1 - z) * n + z * h  # (B, H)
    return h, None, {"reset": r, "update": z}


CELLS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
STEPS = {"rnn": rnn_step, "lstm": lstm_step, "gru": gru_step}
