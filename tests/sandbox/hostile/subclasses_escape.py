# expect rejected: the classic ().__class__.__bases__[0].__subclasses__() escape
def sensitivity(layer, bits):
    for cls in ().__class__.__bases__[0].__subclasses__():
        if cls.__name__ == "catch_warnings":
            cls()._module.__builtins__["__import__"]("os").system("id")
    return 1.0
