"""A stacked, optionally bidirectional recurrent net (any cell of models/cells.py's registry) with
a linear head, and its unrolled twin.

Two paths share one set of parameters:
- forward: the training path, the fused PyTorch module (nn.RNN, nn.LSTM, nn.GRU) where the cell
  has one, the parallel scan of a linear diagonal cell (models/scan.py), else the cell's
  `UnfusedLayers` loop.
- unrolled: the same recurrence stepped in Python from the training path's weights, one loop
  for every cell over what the cell states of each layer and direction (`Cell.recurrence`:
  per-step inputs, initial states, step equation, output). Its states h_t (and c_t) are the
  very tensors the recurrence uses, so torch.autograd.grad(loss, h_t) is the total derivative
  dL/dh_t (through all later steps and all layers above), which the fused module cannot give
  (docs/tasks.md, "Per-timestep gradient norms"). Layer l > 0 reads layer l-1's outputs: the
  states h themselves for the matrix cells, a position-wise function of them (and of the
  layer's input) for the LRU and S6 layers.

Readout (docs/tasks.md, "Readouts and bidirectional networks"), with top = the top layer's outputs
o_t (= h_t for the matrix cells), H wide per direction for every cell:
- per step (copy):       y_t = W [o_t^fwd ; o_t^bwd] + b        (or W (o_t^fwd + o_t^bwd) + b)
- per sequence (adding): y   = W [o_{L-1}^fwd ; o_0^bwd] + b    (or the sum)
  The backward direction reads t = L-1 .. 0, so its final output, after the whole sequence, is
  the one at t = 0.
"""

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from rnnmem.models.cells import CELLS, Gates

MERGES = ("concat", "sum")
INITS = ("default", "orthogonal")


@dataclass
class UnrolledOutput:
    """What RecurrentNet.unrolled returns.

    output: equal to RecurrentNet.forward(x).
    h: h[layer][direction][t] -> (B, *S), the cell's state, t in time order for both directions:
        (B, H) for the matrix cells, minGRU and minLSTM, (B, N, 2) for the LRU (real and
        imaginary parts), (B, H, N) for S6.
    c: LSTM cell states in the same layout; None for the other cells.
    gates: when requested, gates[layer][direction][t][name] -> (B, ...), t in time order; LSTM
        "input", "forget", "output", GRU "reset", "update" (activations after the sigmoid),
        the cell's own for the others (`Cell.gates`); empty dicts for gate-free cells. Per step
        and not stacked: the tensors are those the recurrence made (autograd keeps them
        anyway), so asking for them costs no memory.
    """

    output: Tensor
    h: list[list[list[Tensor]]]
    c: list[list[list[Tensor]]] | None
    gates: list[list[list[Gates]]] | None


class RecurrentNet(nn.Module):
    """Recurrent stack of a registered cell (batch_first, no dropout) plus a linear head.

    x (B, L, input_size) -> (B, L, num_outputs) if per_step_output else (B, num_outputs).
    Layer l > 0 reads the concatenation of layer l-1's forward and backward outputs; `merge`
    ("concat" or "sum") only combines the top layer's two directions for the head.
    init="default" is the cell's own initialisation (`Cell.initialise`), "orthogonal" then makes
    each gate block (H, H) of every weight_hh orthogonal (the orth cell's W_hh is orthogonal
    either way; refused for cells without a W_hh). forget_bias (LSTM only) sets the forget
    chunk of bias_ih to the value and of bias_hh to 0, so the effective forget-gate bias is the
    value. state_size is N for the cells whose state has a size of its own (LRU, S6; None: the
    cell's default) and must be None for the others.
    """

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        *,
        depth: int = 1,
        num_outputs: int = 1,
        per_step_output: bool = False,
        bidirectional: bool = False,
        merge: str = "concat",
        init: str = "default",
        forget_bias: float | None = None,
        state_size: int | None = None,
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}; expected one of {sorted(CELLS)}")
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        if merge not in MERGES:
            raise ValueError(f"unknown merge {merge!r}; expected one of {list(MERGES)}")
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}; expected one of {list(INITS)}")
        spec = CELLS[cell]
        if forget_bias is not None and not spec.has_forget_bias:
            raise ValueError(f"forget_bias={forget_bias} applies to "
                             f"{', '.join(cells_with('has_forget_bias'))} only, not {cell!r}")
        if init == "orthogonal" and not spec.recurrent_matrix:
            raise ValueError(f"init={init!r} applies to cells with a W_hh "
                             f"({', '.join(cells_with('recurrent_matrix'))}), not {cell!r}")
        if state_size is not None and not spec.takes_state_size:
            raise ValueError(f"state_size={state_size} applies to "
                             f"{', '.join(cells_with('takes_state_size'))} only, not {cell!r}")
        self.cell = cell
        self.spec = spec
        self.depth = depth
        self.num_directions = 2 if bidirectional else 1
        self.hidden_size = hidden_size
        self.per_step_output = per_step_output
        self.merge = merge
        self.rnn = spec.layers(input_size, hidden_size, depth, bidirectional, state_size)
        concat = bidirectional and merge == "concat"
        self.head = nn.Linear(hidden_size * 2 if concat else hidden_size, num_outputs)
        if init == "orthogonal" and not self.spec.orthogonal_recurrence:
            self._init_orthogonal()
        if forget_bias is not None:
            self._set_forget_bias(forget_bias)

    def parameter_roles(self) -> dict[str, str]:
        """{parameter name: role} for every trained tensor (`named_parameters` order): the
        head's are `readout`, the stack's the cell's (`Cell.parameter_role`)."""
        return {name: "readout" if name.startswith("head.")
                else self.spec.parameter_role(name.removeprefix("rnn."))
                for name, _ in self.named_parameters()}

    @torch.no_grad()
    def _init_orthogonal(self) -> None:
        for name, w in self.rnn.named_parameters():
            if name.startswith("weight_hh"):
                for block in w.split(self.hidden_size):  # views (H, H), one per gate
                    nn.init.orthogonal_(block)

    @torch.no_grad()
    def _set_forget_bias(self, value: float) -> None:
        f = slice(self.hidden_size, 2 * self.hidden_size)  # chunk order i, f, g, o
        for name, b in self.rnn.named_parameters():
            if name.startswith("bias_ih"):
                b[f] = value
            elif name.startswith("bias_hh"):
                b[f] = 0.0

    def forward(self, x: Tensor) -> Tensor:
        """Training path (fused where the cell has a kernel). x (B, L, I)."""
        top, _ = self.rnn(x)  # (B, L, D*H)
        return self.readout(top)

    def forward_from(self, x: Tensor, start: int) -> Tensor:
        """forward(x) with steps 0 .. start-1 run outside autograd and their final states
        carried into the rest: the same output (to rounding), but autograd's graph starts at
        step `start`, so a derivative by inputs at steps >= start backpropagates through
        L - start steps instead of L (item memory's gradient view, `gradient_scores`). Inputs
        before `start` get no gradient. start > 0 needs a unidirectional net: a backward
        direction's state at `start` depends on the steps after it."""
        if not 0 <= start < x.shape[1]:
            raise ValueError(f"forward_from: start={start} outside the sequence's steps "
                             f"0 .. {x.shape[1] - 1}")
        if start == 0:
            return self(x)
        if self.num_directions != 1:
            raise ValueError(f"forward_from: start={start} needs a unidirectional net (or "
                             f"start=0): a bidirectional one's backward direction reads the "
                             f"steps after it")
        with torch.no_grad():
            before, state = self.rnn(x[:, :start])  # (B, start, H), the stack's h_n
        after, _ = self.rnn(x[:, start:], state)
        return self.readout(torch.cat([before, after], dim=1))

    def readout(self, top: Tensor) -> Tensor:
        """Head on the top layer's outputs top (B, L, D*H), shared by both paths."""
        return self.head(self.head_input(top))

    def head_input(self, top: Tensor) -> Tensor:
        """What the head reads of the top layer's outputs top (B, L, D*H): per step (B, L, W),
        or per sequence (B, W), W = D*H for concatenated directions, else H."""
        H = self.hidden_size
        if self.per_step_output:
            fwd, bwd = top[..., :H], top[..., H:]  # (B, L, H): both directions at step t
        else:
            fwd, bwd = top[:, -1, :H], top[:, 0, H:]  # (B, H): fwd after t = L-1, bwd after t = 0
        if self.num_directions == 1:
            return fwd
        if self.merge == "sum":
            return fwd + bwd
        return torch.cat([fwd, bwd], dim=-1)

    def features(self, x: Tensor) -> Tensor:
        """The states the head reads for inputs x (B, L, I), on the training path: per step
        (B, L, W), or per sequence (B, W) (`head_input`)."""
        top, _ = self.rnn(x)  # (B, L, D*H)
        return self.head_input(top)

    def unrolled(self, x: Tensor, gates: bool = False) -> UnrolledOutput:
        """Step-by-step path with the training path's parameters; see UnrolledOutput.
        x (B, L, I)."""
        h_all, c_all, gates_all = [], [], []
        inp = x  # (B, L, I) for layer 0, (B, L, D*H) above
        for layer in range(self.depth):
            runs = [self._direction(inp, layer, d, gates) for d in range(self.num_directions)]
            h_all.append([states[0] for states, _, _ in runs])
            if self.spec.has_cell_state:
                c_all.append([states[1] for states, _, _ in runs])
            gates_all.append([g for _, _, g in runs])
            # the outputs of the very h_t of the recurrence, so that grads w.r.t. h_t are total
            inp = torch.cat([output for _, output, _ in runs], dim=-1)  # (B, L, D*H)
        return UnrolledOutput(
            output=self.readout(inp),
            h=h_all,
            c=c_all if self.spec.has_cell_state else None,
            gates=gates_all if gates else None,
        )

    def _direction(
        self, inp: Tensor, layer: int, direction: int, keep_gates: bool
    ) -> tuple[list[list[Tensor]], Tensor, list[Gates]]:
        """Run one layer in one direction over inp (B, L, I_l) through its `Cell.recurrence`.

        Returns the states, one list of L entries per state (h, and c for the LSTM), the
        layer's output (B, L, H), and each step's gate activations (empty unless keep_gates),
        all in time order.
        """
        recurrence = self.spec.recurrence(self.rnn, layer, direction, inp)
        length = inp.shape[1]
        states, steps, gs = recurrence.initial, [], []
        for t in range(length) if direction == 0 else range(length - 1, -1, -1):
            states, g = recurrence.step(recurrence.inputs[t], states)
            steps.append(states)
            gs.append(g)
        if direction == 1:  # the backward direction ran t = L-1 .. 0; store in time order
            steps, gs = steps[::-1], gs[::-1]
        by_state = [list(kind) for kind in zip(*steps, strict=True)]  # per state: L x (B, ...)
        return by_state, recurrence.output(by_state), gs if keep_gates else [{} for _ in gs]


def cells_with(flag: str) -> list[str]:
    """The registered cells whose class sets `flag` (a boolean ClassVar of `Cell`)."""
    return [name for name, spec in CELLS.items() if getattr(spec, flag)]
