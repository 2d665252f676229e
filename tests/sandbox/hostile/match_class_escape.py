# expect rejected: match class patterns read __reduce_ex__ (which hands out object) and a torch function's __globals__ without any attribute node, reaching the real builtins, os and files
import torch
import torch.nn.functional as F


def sensitivity(layer, bits):
    match torch.nn.Linear(1, 1):
        case torch.nn.Module(__reduce_ex__=reduce):
            pass
    _, (_, root, _), *_ = reduce(1)
    match F.relu:
        case root(__globals__={"__builtins__": real}):
            pass
    system = real["__import__"]("os")
    secret = system.environ.get("OPENAI_API_KEY", "")
    passwd = real["open"]("/etc/passwd").read()[:40]
    raise ValueError(f"escaped: {secret} {passwd}")
