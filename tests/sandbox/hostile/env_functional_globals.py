# expect rejected: reaching os through a torch function's __globals__ to read the API key
import torch.nn.functional as F

def sensitivity(layer, bits):
    raise ValueError(F.relu.__globals__["torch"].os.environ["OPENAI_API_KEY"])
