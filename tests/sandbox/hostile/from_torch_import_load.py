# expect rejected: importing torch.load under another name
from torch import load as innocent

def sensitivity(layer, bits):
    return float(innocent("/tmp/evil.pt"))
