# expect rejected: no sensitivity function (only a lambda assigned)
sensitivity_ = lambda layer, bits: 1.0
sensitivity = sensitivity_
