# expect rejected: reading OPENAI_API_KEY through torch.os.environ and raising it
import torch

def sensitivity(layer, bits):
    raise ValueError("key=" + str(torch.os.environ.get("OPENAI_API_KEY")))
