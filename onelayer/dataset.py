"""What training and evaluation read: the images of each split with their labels, and the map
from an image's raw pixels to its normalised features.

Features follow the assignment's notation, X is d x n (one image per column), stored
column-major so that each image is contiguous. Raw pixels are n x d bytes, one image per row.
The map is the per-feature normalisation with training statistics, ``(u / 255 - mean) / std``,
which is also ``scale * u + offset`` (the form the native kernels fold into W and b).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass

import numpy as np


def normalise(X: np.ndarray, mean: np.ndarray, std: np.ndarray, dtype=np.float32) -> np.ndarray:
    """(X - mean) / std as ``dtype``, column-major (each image contiguous)."""
    return np.asfortranarray(((X - mean) / std).astype(dtype))


@dataclass(frozen=True)
class PixelMap:
    """The map from pixels u (bytes) to features: feature j is ``scale[j] * u[j] + offset[j]``,
    and with the training statistics ``mean``, ``std`` (d x 1) it is computed as
    ``(u / 255 - mean) / std``, the same number up to rounding (the form preprocessing uses)."""

    scale: np.ndarray  # d
    offset: np.ndarray  # d
    mean: np.ndarray | None = None  # d x 1
    std: np.ndarray | None = None  # d x 1

    @classmethod
    def from_statistics(cls, mean: np.ndarray, std: np.ndarray) -> PixelMap:
        """u / (255 std) - mean / std is ((u / 255) - mean) / std, in the affine form."""
        return cls((1.0 / (255.0 * std)).ravel(), (-mean / std).ravel(), mean, std)

    def features(self, pixels: np.ndarray, dtype=np.float32, out: np.ndarray | None = None,
                 chunk: int = 256) -> np.ndarray:  # fmt: skip
        """The features (d x n, column-major, ``dtype``; into ``out`` where given) of images
        given as rows of bytes, ``chunk`` images at a time in float64 (element by element: the
        bits do not depend on it). With the statistics: ``normalise(u / 255, mean, std)``, what
        preprocessing wrote when it stored features."""
        n, d = pixels.shape
        if out is None:
            out = np.empty((d, n), dtype=dtype, order="F")
        rows = out.T  # an image per row, the same memory
        buffer = np.empty((min(n, chunk), d))  # float64, reused
        for i in range(0, n, chunk):
            U, x = pixels[i : i + chunk], buffer[: len(pixels[i : i + chunk])]
            np.copyto(x, U)  # the bytes as float64, exactly
            if self.mean is not None:  # ((u / 255) - mean) / std
                np.divide(x, 255.0, out=x)
                np.subtract(x, self.mean[:, 0], out=x)
                np.divide(x, self.std[:, 0], out=x)
            else:  # scale u + offset
                np.multiply(x, self.scale, out=x)
                np.add(x, self.offset, out=x)
            rows[i : i + len(U)] = x
        return out

    def first(self, d: int) -> PixelMap:
        """The map of the first d features."""
        cut = lambda a: None if a is None else a[:d]  # noqa: E731
        return PixelMap(self.scale[:d], self.offset[:d], cut(self.mean), cut(self.std))


@dataclass(frozen=True)
class TrainingData:
    """The training and validation images with their labels: as features (d x n), as raw
    pixels (n x d bytes) with their ``pixel_map``, or both. The native backend reads the pixels
    where there are some (a byte per feature), the numpy backend the features (derived from
    the pixels where none are given). Augmentation acts on the pixels."""

    y_train: np.ndarray
    y_val: np.ndarray
    X_train: np.ndarray | None = None
    X_val: np.ndarray | None = None
    pixels_train: np.ndarray | None = None
    pixels_val: np.ndarray | None = None
    pixel_map: PixelMap | None = None

    def __post_init__(self):
        for split in ("train", "val"):
            X, U = getattr(self, f"X_{split}"), getattr(self, f"pixels_{split}")
            y = getattr(self, f"y_{split}")
            if X is None and U is None:
                raise ValueError(f"no {split} images: give their features or their pixels")
            if U is not None and self.pixel_map is None:
                raise ValueError("pixels need the pixel_map to their features")
            if U is not None and (U.dtype != np.uint8 or U.ndim != 2 or U.shape[0] != y.size):
                raise ValueError(f"pixels of {split} must be uint8 n x d for {y.size} labels, "
                                 f"got {U.dtype} {U.shape}")  # fmt: skip
            if X is not None and (X.ndim != 2 or X.shape[1] != y.size):
                raise ValueError(f"features of {split} must be d x {y.size}, got {X.shape}")
            if X is not None and U is not None:
                self._check_pixels_map_to(split, U, X)

    def _check_pixels_map_to(self, split: str, U: np.ndarray, X: np.ndarray, images: int = 4):
        """Refuse pixels that are not the images of the features given with them: the first
        and last ``images`` images must map to their features to float32 rounding (a cheap
        guard against pixels of other data)."""
        if U.shape != X.shape[::-1]:
            raise ValueError(f"pixels of {split} must be {X.shape[1]} x {X.shape[0]} for its "
                             f"features, got {U.shape}")  # fmt: skip
        n = X.shape[1]
        idx = np.unique(np.r_[: min(images, n), max(0, n - images) : n])
        mapped = self.pixel_map.scale[:, None] * U[idx].T + self.pixel_map.offset[:, None]
        if not np.allclose(mapped, X[:, idx], rtol=1e-5, atol=1e-5):
            worst = float(np.max(np.abs(mapped - X[:, idx])))
            raise ValueError(
                f"pixels of {split} do not map to its features (largest difference {worst:.3g}):"
                " they belong to other data or another normalisation"
            )

    @property
    def has_pixels(self) -> bool:
        return self.pixels_train is not None and self.pixels_val is not None

    @property
    def d(self) -> int:
        X = self.X_train if self.X_train is not None else self.pixels_train.T
        return X.shape[0]

    @property
    def n(self) -> int:
        return self.y_train.size

    def features(self, split: str, dtype) -> np.ndarray:
        """The features of ``split`` ("train" or "val"), d x n column-major in ``dtype``."""
        X = getattr(self, f"X_{split}")
        if X is None:
            return self.pixel_map.features(getattr(self, f"pixels_{split}"), dtype)
        return np.asfortranarray(X, dtype=dtype)

    def with_val_in_training(self) -> TrainingData:
        """The validation images appended to the training set (the retrain of a setting chosen
        on validation); the validation set stays as it is."""
        cat = lambda a, b, axis: None if a is None or b is None else np.concatenate([a, b], axis)  # noqa: E731
        return TrainingData(
            np.concatenate([self.y_train, self.y_val]), self.y_val,
            cat(self.X_train, self.X_val, 1), self.X_val,
            cat(self.pixels_train, self.pixels_val, 0), self.pixels_val, self.pixel_map,
        )  # fmt: skip


@dataclass(frozen=True)
class Dataset:
    """A processed file (``preprocess`` writes it): per split its labels and its images, the
    pixel map of the training statistics, and the class names."""

    arrays: dict

    @classmethod
    def load(cls, path) -> Dataset:
        return cls(load_arrays(path))

    def labels(self, split: str) -> np.ndarray:
        return self.arrays[f"y_{split}"]

    def pixels(self, split: str) -> np.ndarray | None:
        """The raw pixels of ``split`` (n x d bytes), or None where the file has none."""
        return self.arrays.get(f"pixels_{split}")

    @property
    def pixel_map(self) -> PixelMap:
        """The map to the file's features: the standardisation with the training statistics."""
        return PixelMap.from_statistics(self.arrays["mean"], self.arrays["std"])

    def input_map(self, inputs: str = "standardised") -> PixelMap:
        """The map to the features a run trains on (``TrainSettings.inputs``): standardised,
        (u / 255 - mean) / std (the file's); centred, u / 255 - mean; unit, u / 255. Under L2
        the three are different objectives: the penalty sees W in these units."""
        mean, std = self.arrays["mean"], self.arrays["std"]
        if inputs == "standardised":
            return self.pixel_map
        if inputs == "centred":
            return PixelMap.from_statistics(mean, np.ones_like(std))
        if inputs == "unit":
            return PixelMap.from_statistics(np.zeros_like(mean), np.ones_like(std))
        raise ValueError(f"inputs must be standardised, centred or unit, got {inputs!r}")

    @property
    def label_names(self) -> list[str]:
        return [str(n) for n in self.arrays["label_names"]]

    def features(self, split: str, dtype=np.float32, out: np.ndarray | None = None,
                 images: slice = slice(None)) -> np.ndarray:  # fmt: skip
        """The features of ``split`` (of its ``images`` only, where given), d x n column-major in
        ``dtype`` (derived into ``out``, where given, from a file that holds the pixels)."""
        X = self.arrays.get(f"X_{split}")
        if X is None:
            return self.pixel_map.features(self.pixels(split)[images], dtype, out)
        return np.asfortranarray(X[:, images], dtype=dtype)

    def training_data(self, val_in_training: bool = False,
                      inputs: str = "standardised") -> TrainingData:  # fmt: skip
        """What ``train`` reads: the training and validation images, as pixels where the file
        has them (and the features as stored, where it has those, for standardised inputs),
        mapped to the features of ``inputs`` (``input_map``)."""
        a = self.arrays
        pixels = self.pixels("train") is not None and self.pixels("val") is not None
        if inputs != "standardised" and not pixels:
            raise ValueError(f"inputs = {inputs} maps the raw pixels, which this file does not hold: "
                             "rerun the preprocess rule")  # fmt: skip
        own = inputs == "standardised"
        data = TrainingData(
            a["y_train"], a["y_val"], a.get("X_train") if own else None,
            a.get("X_val") if own else None,
            a.get("pixels_train") if pixels else None, a.get("pixels_val") if pixels else None,
            self.input_map(inputs) if pixels else None,
        )  # fmt: skip
        return data.with_val_in_training() if val_in_training else data


def load_arrays(path) -> dict:
    """The arrays of a processed .npz (no pickles: object arrays are refused).

    ``preprocess`` writes an uncompressed .npz with every array on a 64-byte boundary, so each
    array's bytes lie in the file as they are: those are mapped read-only (np.memmap) instead of
    read, and a job reads only the pages it touches. Compressed or misaligned members (a file
    written by np.savez) are read as usual.
    """
    path = str(path)
    out = {}
    with zipfile.ZipFile(path) as zf, open(path, "rb") as raw:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):  # as np.load: the arrays are the .npy members
                continue
            name = info.filename.removesuffix(".npy")
            mapped = (
                _map_member(path, raw, info) if info.compress_type == zipfile.ZIP_STORED else None
            )
            if mapped is None:
                with zf.open(info) as member:
                    mapped = np.lib.format.read_array(member, allow_pickle=False)
            out[name] = mapped
    return out


def _map_member(path: str, raw, info: zipfile.ZipInfo):
    """The .npy member ``info`` of an uncompressed zip as a read-only memmap (None if small or
    not mappable: those are read instead)."""
    raw.seek(info.header_offset)
    local = raw.read(30)  # the local file header: its name and extra field lengths at 26 and 28
    if len(local) < 30 or local[:4] != b"PK\x03\x04":
        raise ValueError(f"{path}: {info.filename} has a damaged zip header")
    start = (
        info.header_offset
        + 30
        + int.from_bytes(local[26:28], "little")
        + int.from_bytes(local[28:30], "little")
    )
    raw.seek(start)
    version = np.lib.format.read_magic(raw)
    read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                   (2, 0): np.lib.format.read_array_header_2_0}.get(version)  # fmt: skip
    if read_header is None:
        return None
    shape, fortran, dtype = read_header(raw)
    if dtype.hasobject:
        raise ValueError(f"{path}: {info.filename} holds Python objects, which are refused")
    if int(np.prod(shape)) * dtype.itemsize < 1 << 20:  # small: reading is as cheap
        return None
    if raw.tell() % dtype.alignment:  # a file written by np.savez (before write_npz aligned)
        return None
    return np.memmap(path, dtype=dtype, mode="r", offset=raw.tell(), shape=shape,
                     order="F" if fortran else "C")  # fmt: skip
