# expect error: importing a torch submodule outside the allow-list (passes the screen, refused at run time)
from torch import distributions

def sensitivity(layer, bits):
    return float(distributions.Normal(0.0, 1.0).log_prob(layer.weight).sum())
