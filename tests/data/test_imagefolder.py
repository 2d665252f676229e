"""Image folders: layouts, class order, preprocessing, determinism, the decode cache."""
import pytest
import torch

from tapq.data import imagefolder, load_data
from tapq.data.preprocess import IMAGENET_MEAN, IMAGENET_STD
from tapq.errors import TapqError
from image_folders import flat_folder, fresh_memo, imagenet_folder  # noqa: F401 (fixtures)

SMALL = "resize=16&crop=16"


def test_class_folders_split_50_10_40_per_class_in_sorted_class_order(flat_folder):
    data = load_data(f"imagefolder:{flat_folder}?{SMALL}")
    assert (len(data.train), len(data.calib), len(data.eval)) == (15, 3, 12)
    assert data.num_classes == 3 and data.input_shape == (3, 16, 16)
    for split in (data.train, data.calib, data.eval):
        assert torch.bincount(split.y, minlength=3).tolist() == [len(split) // 3] * 3
    # class 0 is "circle" (red), 1 "square" (green), 2 "triangle" (blue): the shape's
    # colour dominates its channel, so sorted folder names give the labels
    pixels = data.eval.x * torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) \
        + torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    brightest = pixels.amax(dim=(2, 3)).argmax(1)
    assert torch.equal(brightest, data.eval.y)


def test_imagenet_layout_calibrates_on_train_and_evaluates_on_val(imagenet_folder):
    data = load_data(f"imagefolder:{imagenet_folder}?{SMALL}")
    assert (len(data.train), len(data.calib), len(data.eval)) == (27, 3, 12)
    assert torch.bincount(data.eval.y).tolist() == [4, 4, 4]


def test_normalisation_and_options(flat_folder):
    default = load_data(f"imagefolder:{flat_folder}?{SMALL}")
    raw = load_data(f"imagefolder:{flat_folder}?{SMALL}&mean=0&std=1")
    mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
    expected = (raw.eval.x - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
    assert torch.allclose(default.eval.x, expected, atol=1e-6)
    assert 0 <= raw.eval.x.min() and raw.eval.x.max() <= 1
    gray = load_data(f"imagefolder:{flat_folder}?resize=12&crop=8&gray=1")
    assert gray.input_shape == (1, 8, 8)
    whole = load_data(f"imagefolder:{flat_folder}?resize=0&crop=0")
    assert whole.input_shape == (3, 16, 20)  # the images are 20 wide, 16 high


def test_same_spec_gives_the_same_data_and_subsets_are_stratified(flat_folder):
    spec = f"imagefolder:{flat_folder}?{SMALL}&eval_n=6"
    first = load_data(spec)
    imagefolder_cache = list((flat_folder.parent / "cache" / "data").iterdir())
    for path in imagefolder_cache:  # decode again from the files, not from the cache
        path.unlink()
    from tapq.data import loading

    loading._memo.clear()
    again = load_data(spec)
    assert torch.equal(first.eval.x, again.eval.x) and torch.equal(first.eval.y, again.eval.y)
    assert torch.bincount(first.eval.y).tolist() == [2, 2, 2]
    assert first.name == spec  # already canonical


def test_second_load_reads_the_cache_without_decoding(flat_folder, monkeypatch):
    decoded = []
    real = imagefolder.decode_image
    monkeypatch.setattr(imagefolder, "decode_image",
                        lambda path, options: decoded.append(path) or real(path, options))
    spec = f"imagefolder:{flat_folder}?{SMALL}"
    first = load_data(spec)
    assert len(decoded) == 30  # the .txt and hidden files are not images
    from tapq.data import loading

    loading._memo.clear()
    assert torch.equal(load_data(spec).train.x, first.train.x)
    assert len(decoded) == 30  # served from the cache
    loading._memo.clear()
    load_data(f"{spec}&mean=0.5&std=0.25")  # normalising is after the cache
    assert len(decoded) == 30
    (flat_folder / "square" / "00.jpg").touch()  # a changed file invalidates the cache
    loading._memo.clear()
    load_data(spec)
    assert len(decoded) == 60


@pytest.mark.parametrize("setup, options, message", [
    ("missing", SMALL, "image folder not found"),
    ("empty", SMALL, "holds no class folders"),
    ("empty_class", SMALL, "holds no images"),
    ("corrupt", SMALL, "cannot decode image"),
    ("val_only_class", SMALL, "val/ has classes that train/ lacks: zebra"),
    ("train_without_val", SMALL, "has train/ but not both train/ and val/"),
    ("two_images", SMALL, "class square has 2 image(s); each needs at least 3"),
    ("ok", SMALL + "&eval_n=13", "eval_n=13 asks for more images than its eval split holds"),
    ("ok", "resize=abc", "resize='abc'"),
    ("ok", SMALL + "&colour=1", "unknown option 'colour'"),
    ("ok", "crop=300", "larger than resize"),
    ("ok", "gray=1&mean=0.1,0.2,0.3", "has 3 values; give 1"),
])
def test_mistakes_are_one_line_errors(flat_folder, imagenet_folder, setup, options, message):
    root = {"missing": flat_folder / "nope", "val_only_class": imagenet_folder}.get(setup,
                                                                                  flat_folder)
    if setup == "empty":
        root = flat_folder.parent / "empty"
        root.mkdir()
    elif setup == "empty_class":
        (flat_folder / "zebra").mkdir()
    elif setup == "train_without_val":
        (flat_folder / "train").mkdir()
    elif setup == "two_images":
        for path in sorted((flat_folder / "square").glob("0*"))[2:]:
            path.unlink()
    elif setup == "corrupt":
        (flat_folder / "square" / "03.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    elif setup == "val_only_class":
        (root / "val" / "zebra").mkdir()
        (root / "val" / "zebra" / "z.png").write_bytes((flat_folder / "square" / "01.png")
                                                       .read_bytes())
    with pytest.raises(TapqError) as raised:
        load_data(f"imagefolder:{root}?{options}")
    text = str(raised.value)
    assert message in text and "\n" not in text
    if setup == "corrupt":
        assert "03.png" in text
