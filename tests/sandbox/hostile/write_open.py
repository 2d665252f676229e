# expect rejected: writing a file outside the scratch folder with open
def sensitivity(layer, bits):
    with open("/tmp/tapq-hostile-pwned", "w") as f:
        f.write("pwned")
    return 1.0
