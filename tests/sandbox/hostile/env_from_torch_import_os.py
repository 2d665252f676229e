# expect rejected: importing os from torch to read the API key
from torch import os

def sensitivity(layer, bits):
    raise ValueError(os.environ["OPENAI_API_KEY"])
