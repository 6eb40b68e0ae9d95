"""Loading the course .npz, the notMNIST_small folder and .tar.gz; refusing bad files with clear messages; the split."""

import io
import pickle
import tarfile
import zipfile

import numpy as np
import pytest
from helpers import blob_letters
from PIL import Image

import mlp.data as data
from mlp import limits
from mlp.data import DataError, load_bytes, load_dataset, load_npz, split_dataset, split_sizes


def npz_bytes(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def npy_bytes(arr):
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def png_bytes(arr):
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def png_folder(tmp_path):
    """notMNIST_small layout: A/..J/ with two PNGs each, plus a zero-byte and a corrupt PNG."""
    images, labels = blob_letters(20)
    root = tmp_path / "notMNIST_small"
    for i, (img, lab) in enumerate(zip(images, labels)):
        d = root / "ABCDEFGHIJ"[lab]
        d.mkdir(parents=True, exist_ok=True)
        (d / f"font{i:02d}.png").write_bytes(png_bytes(img))
    (root / "A" / "empty.png").write_bytes(b"")
    (root / "F" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (root / "B" / "notes.txt").write_text("ignored")
    return root, images, labels


def test_course_npz_format_round_trip():
    images, labels = blob_letters(50)
    ds = load_npz(npz_bytes(images=images, labels=labels), "notMNIST.npz")
    assert ds.images.shape == (50, 28, 28) and ds.images.dtype == np.uint8
    np.testing.assert_array_equal(ds.labels, labels)
    assert not ds.images.flags.writeable and not ds.labels.flags.writeable


def test_npz_with_int64_labels_and_flat_images_is_accepted():
    images, labels = blob_letters(30)
    ds = load_npz(npz_bytes(images=images.reshape(30, 784).astype(np.int64), labels=labels.astype(np.int64)))
    assert ds.images.shape == (30, 28, 28) and ds.images.dtype == np.uint8


def test_png_folder_skips_and_counts_unreadable(png_folder):
    root, images, labels = png_folder
    ds = load_dataset(root)
    assert len(ds) == 20 and ds.skipped == 2
    assert dict(ds.skip_reasons) == {"empty files": 1, "damaged PNGs": 1}
    assert ds.skipped_text in ("2 skipped (1 empty files; 1 damaged PNGs)", "2 skipped (1 damaged PNGs; 1 empty files)")
    # ordered A..J, then file name: every A first
    assert list(ds.labels) == sorted(labels)
    first_a = images[labels == 0][0]
    np.testing.assert_array_equal(ds.images[0], first_a)


def test_png_folder_found_one_level_down(png_folder):
    root, _, _ = png_folder
    assert len(load_dataset(root.parent)) == 20


def make_tarball(root, path):
    with tarfile.open(path, "w:gz") as tar:
        tar.add(root, arcname="notMNIST_small")
    return path


def test_tarball_skips_and_counts_unreadable(png_folder, tmp_path):
    root, _, labels = png_folder
    ds = load_dataset(make_tarball(root, tmp_path / "notMNIST_small.tar.gz"))
    assert len(ds) == 20 and ds.skipped == 2
    assert dict(ds.skip_reasons) == {"empty files": 1, "damaged PNGs": 1}
    np.testing.assert_array_equal(ds.labels, np.sort(labels))
    np.testing.assert_array_equal(ds.images, load_dataset(root).images)


def test_uploaded_bytes_are_recognised_by_content(png_folder, tmp_path):
    root, _, _ = png_folder
    tgz = make_tarball(root, tmp_path / "x.tar.gz").read_bytes()
    assert len(load_bytes(tgz, "upload.bin")) == 20
    images, labels = blob_letters(25)
    assert len(load_bytes(npz_bytes(images=images, labels=labels), "upload.bin")) == 25
    assert len(load_bytes(npz_bytes(images=images, labels=labels), "misnamed.tar.gz")) == 25
    assert len(load_bytes(tgz, "misnamed.npz")) == 20


def refused(source, match, name="bad.npz"):
    with pytest.raises(DataError, match=match) as info:
        load_bytes(source, name) if isinstance(source, bytes) else load_dataset(source)
    return str(info.value)


IMAGES, LABELS = blob_letters(30)


@pytest.mark.parametrize(
    "arrays,match",
    [
        ({"labels": LABELS}, r"missing array\(s\) \['images'\]"),
        ({"images": IMAGES}, r"missing array\(s\) \['labels'\]"),
        ({"images": IMAGES[:, :20, :], "labels": LABELS}, r"shape \(30, 20, 28\), expected \(N, 28, 28\)"),
        ({"images": IMAGES / 255.0, "labels": LABELS}, r"dtype float64, expected uint8"),
        ({"images": IMAGES.astype(np.int16) * 4, "labels": LABELS}, r"dtype int16, expected uint8"),
        ({"images": IMAGES, "labels": LABELS + 5}, r"labels range from 5 to 14, expected 0..9"),
        ({"images": IMAGES, "labels": LABELS[:10]}, r"shape \(10,\), expected \(30,\)"),
        ({"images": IMAGES, "labels": LABELS.astype(float)}, r"dtype float64, expected integers"),
        ({"images": IMAGES[:5], "labels": LABELS[:5]}, r"only 5 images"),
    ],
)
def test_bad_npz_contents_are_explained(arrays, match):
    refused(npz_bytes(**arrays), match)


def test_object_arrays_are_refused_not_unpickled():
    obj = np.empty(30, dtype=object)
    obj[:] = [{"x": i} for i in range(30)]
    buf = io.BytesIO()
    np.savez(buf, images=IMAGES, labels=obj)  # savez pickles object arrays
    assert "pickled Python objects" in refused(buf.getvalue(), "pickled")


def test_pickle_files_are_refused():
    msg = refused(pickle.dumps({"images": IMAGES, "labels": LABELS}), "pickle")
    assert "never loaded" in msg


def test_empty_and_non_archive_files():
    assert "empty" in refused(b"", "empty")
    assert "not a .npz" in refused(b"hello, this is text", "not a .npz")
    npy = io.BytesIO()
    np.save(npy, IMAGES)
    refused(npy.getvalue(), "single .npy")


def test_truncated_archives_are_refused(png_folder, tmp_path):
    good = npz_bytes(images=IMAGES, labels=LABELS)
    refused(good[: len(good) // 2], "damaged|not a readable")
    root, _, _ = png_folder
    tgz = make_tarball(root, tmp_path / "t.tar.gz").read_bytes()
    refused(tgz[: len(tgz) // 2], r"gzip stream ends early \(truncated\)", name="t.tar.gz")


def test_zip_bomb_is_refused(monkeypatch):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("images.npy", "w") as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False, "shape": (6000, 28, 28)})
            f.write(b"\0" * (6000 * 784))  # 4.5 MiB of zeros in a few KiB
        zf.writestr("labels.npy", npy_bytes(np.zeros(6000, np.uint8)))
    assert len(buf.getvalue()) < 64 * 1024
    assert "(mlp.limits.MAX_COMPRESSION_RATIO)" in refused(buf.getvalue(), r"inflates 1,\d\d\d times")
    monkeypatch.setattr(limits, "MAX_UPLOAD_DECODED_BYTES", 2**20)
    monkeypatch.setattr(limits, "MAX_COMPRESSION_RATIO", 10**6)
    assert "(mlp.limits.MAX_UPLOAD_DECODED_BYTES)" in refused(buf.getvalue(), "its arrays declare 4.5 MiB")


def test_tar_bomb_is_refused(monkeypatch, tmp_path):
    monkeypatch.setattr(limits, "MAX_OWNER_EXPANDED_BYTES", 2**20)
    path = tmp_path / "bomb.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("notMNIST_small/A/big.png")
        info.size = 4 * 2**20
        tar.addfile(info, io.BytesIO(b"\0" * info.size))
    assert "(mlp.limits.MAX_OWNER_EXPANDED_BYTES)" in refused(path, "inflates to more than 1.0 MiB")


def test_oversized_file_is_refused(monkeypatch):
    monkeypatch.setattr(limits, "MAX_FILE_BYTES", 1000)
    assert "limit for an upload is 1,000 bytes (mlp.limits.MAX_FILE_BYTES)" in refused(
        npz_bytes(images=IMAGES, labels=LABELS), "the file is 24,")  # bytes, then the limit


def test_folder_without_letter_subfolders(tmp_path):
    refused(tmp_path, "no subfolders A/ .. J/")


def test_split_matches_the_reports_shuffle():
    images, labels = blob_letters(300)
    split = split_dataset(images, labels)
    np.random.seed(521)  # the report's code, verbatim
    rand_idx = np.arange(len(images))
    np.random.shuffle(rand_idx)
    expected = images[rand_idx] / 255.0
    n_train, n_valid, n_test = split_sizes(300)
    np.testing.assert_allclose(split.x_train, expected[:n_train].reshape(n_train, 784), rtol=1e-6)
    np.testing.assert_array_equal(split.y_test, labels[rand_idx][n_train + n_valid :])
    assert (len(split.y_train), len(split.y_valid), len(split.y_test)) == (n_train, n_valid, n_test)
    assert not split.x_train.flags.writeable


def test_split_sizes():
    assert split_sizes(18724) == (10000, 6000, 2724)
    assert split_sizes(25000) == (10000, 6000, 9000)
    assert split_sizes(1872) == (1000, 600, 272)  # a tenth of notMNIST_small: same proportions


def test_split_part_maps_rows_back_to_images():
    images, labels = blob_letters(100)
    split = split_dataset(images, labels)
    x, y, rows = split.part("valid")
    np.testing.assert_array_equal(y, labels[rows])
    np.testing.assert_allclose(x[0] * 255, images[rows[0]].reshape(-1), atol=1e-3)


def test_data_dir_preference(tmp_path, monkeypatch):
    images, labels = blob_letters(30)
    (tmp_path / "letters.npz").write_bytes(npz_bytes(images=images, labels=labels))
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    assert data.default_data_path().name == "letters.npz"
    (tmp_path / "notMNIST.npz").write_bytes(npz_bytes(images=images, labels=labels))
    assert [p.name for p in data.find_data_files()] == ["notMNIST.npz", "letters.npz"]


def test_real_notmnist_small(real_data_path):
    ds = load_dataset(real_data_path)
    assert len(ds) == 18724 and ds.skipped == 0
    assert ds.class_counts().tolist() == [1872, 1873, 1873, 1873, 1873, 1872, 1872, 1872, 1872, 1872]


def test_png_folder_checks_sizes_before_reading(png_folder, monkeypatch):
    root, _, _ = png_folder
    big = Image.new("L", (300, 200))
    big.save(root / "C" / "wide.png")
    (root / "D" / "huge.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 3000)
    monkeypatch.setattr(limits, "MAX_PNG_BYTES", 2000)
    ds = load_dataset(root)
    assert len(ds) == 20
    assert dict(ds.skip_reasons) == {
        "empty files": 1, "damaged PNGs": 1, "PNGs not 28x28 (e.g. 300x200)": 1,
        "files over 2,000 bytes (mlp.limits.MAX_PNG_BYTES)": 1,
    }


def test_image_caps_for_uploads_and_the_data_folder(png_folder, tmp_path, monkeypatch):
    images, labels = blob_letters(40)
    blob = npz_bytes(images=images, labels=labels)
    monkeypatch.setattr(limits, "MAX_UPLOAD_IMAGES", 30)
    msg = refused(blob, r"'images' declares 40 images; the limit for an upload is 30 \(mlp.limits.MAX_UPLOAD_IMAGES\)")
    assert msg.endswith(".")
    (tmp_path / "notMNIST.npz").write_bytes(blob)
    assert len(load_dataset(tmp_path / "notMNIST.npz")) == 40  # the data folder's cap is larger
    monkeypatch.setattr(limits, "MAX_OWNER_IMAGES", 30)
    refused(tmp_path / "notMNIST.npz", r"the limit for a file in the data folder is 30 \(mlp.limits.MAX_OWNER_IMAGES\)")
    root, _, _ = png_folder
    monkeypatch.setattr(limits, "MAX_OWNER_IMAGES", 10)
    refused(root, r"holds more than 10 images; .*MAX_OWNER_IMAGES")
    monkeypatch.setattr(limits, "MAX_UPLOAD_TAR_IMAGES", 10)
    tgz = make_tarball(root, tmp_path / "t.tar.gz").read_bytes()
    refused(tgz, r"holds more than 10 images; the limit for an upload is 10 \(mlp.limits.MAX_UPLOAD_TAR_IMAGES\)")


def test_uint8_images_are_not_copied_and_values_are_checked():
    images, labels = blob_letters(30)
    out, _ = data.check_arrays(images, labels)
    assert np.shares_memory(out, images)
    with pytest.raises(DataError, match=r"dtype int16, expected uint8 pixel values 0..255 \(its values run from -1"):
        data.check_arrays(images.astype(np.int16) - 1, labels)
