"""Building blocks, each a drop-in twin of the torch.nn class of the same name.

Same constructor arguments, forward signature, return structure and state_dict keys as torch.nn,
so `ours.load_state_dict(theirs.state_dict())` works in both directions. torch.nn's spellings
work too: `seqlab.nn.MultiheadAttention` is `seqlab.nn.MultiHeadAttention`. See docs/nn-recurrent.md
and docs/nn-attention.md.

Beyond torch.nn (no twin there; docs/nn-recurrent.md, "Recurrent models that train in parallel"):
`MinGRU`, `MinLSTM` (seqlab/nn/minrnn.py), `MultiScaleRetention` (retention.py) and
`SelectiveSSM` (ssm.py), each with `forward(x, state=None) -> (out, state)` in its parallel form
and `step(x_t, state) -> (out_t, state)` in its recurrent form.
"""

from seqlab.nn.rnn_cells import *  # noqa: F401,F403
from seqlab.nn.rnn import *  # noqa: F401,F403
from seqlab.nn.attention import *  # noqa: F401,F403
from seqlab.nn.multihead import *  # noqa: F401,F403
from seqlab.nn.positional import *  # noqa: F401,F403
from seqlab.nn.transformer import *  # noqa: F401,F403
from seqlab.nn.minrnn import *  # noqa: F401,F403
from seqlab.nn.retention import *  # noqa: F401,F403
from seqlab.nn.ssm import *  # noqa: F401,F403

# torch.nn's spelling, so code written for torch.nn.MultiheadAttention runs unchanged
MultiheadAttention = MultiHeadAttention  # noqa: F405
