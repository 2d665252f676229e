import numpy as np
import torch

from tapq.data.splits import stratified_split


def test_mnist_splits_have_documented_sizes_and_balance(mnist):
    assert (len(mnist.train), len(mnist.calib), len(mnist.eval)) == (2500, 500, 2000)
    assert mnist.input_shape == (1, 28, 28) and mnist.num_classes == 10
    assert torch.bincount(mnist.eval.y).tolist() == [200] * 10
    assert abs(mnist.train.x.mean().item()) < 1e-4 and abs(mnist.train.x.std().item() - 1) < 1e-3


def test_digits_splits(digits):
    assert (len(digits.train), len(digits.calib)) == (1000, 200)
    assert len(digits.eval) == 1797 - 1200 and digits.input_shape == (1, 8, 8)


def test_splits_are_disjoint_stratified_and_fixed():
    labels = np.repeat(np.arange(10), 50)
    first = stratified_split(labels, (30, 5, 15), seed=0)
    again = stratified_split(labels, (30, 5, 15), seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    train, calib, evaluation = (set(p.tolist()) for p in first)
    assert not (train & calib or train & evaluation or calib & evaluation)
    assert np.bincount(labels[first[1]]).tolist() == [5] * 10
