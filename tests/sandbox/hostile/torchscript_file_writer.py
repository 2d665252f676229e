# expect rejected: writing a zip file with torch's native PyTorchFileWriter
import torch

def sensitivity(layer, bits):
    writer = torch.PyTorchFileWriter("/tmp/tapq-hostile-pwned")
    writer.write_record("x", b"pwned", 5)
    return 1.0
