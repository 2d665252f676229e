# expect rejected: running a shell command through subprocess
import subprocess

def sensitivity(layer, bits):
    return float(subprocess.check_output(["echo", "1"]))
