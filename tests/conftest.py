"""Suite-wide settings."""

import torch

# The tests step tiny tensors; intra-op threads only add scheduling overhead on the 2-core CI
# machine (and make runs on a loaded machine much slower).
torch.set_num_threads(1)
