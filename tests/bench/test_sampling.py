import numpy as np

from tapq.bench.sampling import average_bits, sample_configs

PARAMS = [144, 2304, 2304, 4608, 9216, 512, 288, 2048, 576, 4096, 2048, 640]


def test_configurations_cover_the_whole_range_evenly():
    configs = sample_configs(PARAMS, [2, 3, 4, 6, 8], 240, seed=0)
    avg = average_bits(configs, np.array(PARAMS))
    counts = np.histogram(avg, bins=np.linspace(2, 8, 13))[0]
    assert counts.tolist() == [20] * 12
    assert len({tuple(row) for row in configs}) == 240
    assert set(np.unique(configs)) == {2, 3, 4, 6, 8}


def test_sampling_is_deterministic_and_prefixes_are_spread():
    a = sample_configs(PARAMS, [2, 4, 8], 60, seed=3)
    assert np.array_equal(a, sample_configs(PARAMS, [2, 4, 8], 60, seed=3))
    assert not np.array_equal(a, sample_configs(PARAMS, [2, 4, 8], 60, seed=4))
    prefix = average_bits(a[:12], np.array(PARAMS))
    assert prefix.min() < 3 and prefix.max() > 7
