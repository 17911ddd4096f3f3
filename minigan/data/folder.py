"""Any folder of PNG/JPEG images (searched recursively), center-cropped, resized, as one dataset.

When every image sits in a subfolder of the root and there are at least two subfolders, the
subfolder names (sorted) are the classes, as in torchvision's ImageFolder; otherwise no labels.
"""

import os

import numpy as np
from PIL import Image, UnidentifiedImageError

from minigan.data.dataset import tilde
from minigan.errors import MiniganError

EXTENSIONS = (".png", ".jpg", ".jpeg")
DEFAULT_IMAGE_SIZE = 64
# Pillow modes with one intensity channel (the I;16 variants are matched by prefix)
GRAY_MODES = ("1", "L", "LA", "I", "F")


def list_image_files(root):
    """Sorted paths of the PNG/JPEG files under root, skipping hidden files and folders."""
    paths = []
    for folder, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        paths += [os.path.join(folder, f) for f in sorted(files)
                  if f.lower().endswith(EXTENSIONS) and not f.startswith(".")]
    return paths


def is_gray(mode):
    """Whether a Pillow mode holds one intensity channel."""
    return mode in GRAY_MODES or mode.startswith("I;16")


def _to_8bit(img):
    """16-bit and float grayscale -> mode L, scaled rather than clipped (convert("L") would clip)."""
    if img.mode in ("1", "L", "LA"):
        return img.convert("L")
    x = np.asarray(img, dtype=np.float64)
    top = 65535.0 if x.max() > 255 else 255.0
    return Image.fromarray(np.clip(x / top * 255 + 0.5, 0, 255).astype(np.uint8))


def load_image(path, image_size):
    """Decode one file, center-crop it to a square, resize it; keep it gray (L) or make it RGB.

    Alpha is dropped (the colour values under it are kept), palettes become RGB.

    Returns:
        PIL.Image.Image of mode "L" or "RGB", image_size x image_size.
    """
    with Image.open(path) as img:
        img.load()
        img = _to_8bit(img) if is_gray(img.mode) else img.convert("RGB")
    w, h = img.size
    s = min(w, h)
    box = ((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)
    return img.resize((image_size, image_size), Image.Resampling.BILINEAR, box=box)


def _class_labels(root, paths):
    """(labels, num_classes) from the first subfolder of each path, or (None, 0)."""
    parts = [os.path.relpath(p, root).split(os.sep) for p in paths]
    if any(len(p) < 2 for p in parts):
        return None, 0
    classes = sorted({p[0] for p in parts})
    if len(classes) < 2:
        return None, 0
    index = {name: k for k, name in enumerate(classes)}
    return np.array([index[p[0]] for p in parts], dtype=np.int64), len(classes)


def load_folder(root, image_size=None, channels=None, limit=None):
    """Load every readable PNG/JPEG under root.

    Args:
        root (str): the folder.
        image_size (int or None): side of the square output; None means 64.
        channels (int or None): 1 or 3; None means 1 when every image is grayscale, else 3.
        limit (int or None): stop after this many readable images (in sorted path order).
    Returns:
        (raw, labels, num_classes, source): raw uint8 (n, s, s) or (n, s, s, 3); labels int64 or None.
    Raises:
        MiniganError: no folder, no image files, or none of them readable.
    """
    if root is None or not os.path.isdir(root):
        raise MiniganError(f"the folder dataset needs an existing folder of images (--data-dir), "
                           f"not {root!r}.")
    size = image_size or DEFAULT_IMAGE_SIZE
    paths = list_image_files(root)
    if not paths:
        raise MiniganError(f"{tilde(root)} holds no PNG or JPEG images (searched recursively); "
                           f"point --data-dir at a folder of .png/.jpg files.")
    images, kept, skipped = [], [], 0
    for path in paths:
        if limit is not None and len(images) >= limit:
            break
        try:
            images.append(load_image(path, size))
            kept.append(path)
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
            skipped += 1  # a damaged or mislabelled file should not stop a long run
    if not images:
        raise MiniganError(f"none of the {len(paths)} image files in {tilde(root)} could be read; "
                           f"check that they are valid PNG or JPEG files.")
    if channels is None:
        channels = 1 if all(img.mode == "L" for img in images) else 3
    raw = np.stack([np.asarray(img.convert("L" if channels == 1 else "RGB")) for img in images])
    labels, num_classes = _class_labels(root, kept)
    source = f"image folder {tilde(root)} ({len(images)} images"
    source += f", {num_classes} classes from subfolders" if labels is not None else ""
    source += f", {skipped} unreadable files skipped)" if skipped else ")"
    return raw, labels, num_classes, source
