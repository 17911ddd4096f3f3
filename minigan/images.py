"""PNG pictures of what a GAN makes: sample grids, rows (one per class or pyramid band), loss curves.

Everything is drawn with Pillow (no matplotlib) and written atomically: a temporary file beside
the target, then ``os.replace``, so an interrupted run never leaves half a PNG.
Images come in as (n, c, h, w) arrays in [-1, 1], c = 1 (gray) or 3 (RGB); numpy, cupy
(copied to the host) or a minigan Tensor.
"""

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from minigan import files

# the ten colours of matplotlib's "tab10": distinct, readable on white
COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]
MIN_LABELLED_CELL = 48  # pixels; smaller cells are enlarged before a label is written in them


def to_numpy(x):
    """A host numpy array from numpy, cupy (``.get()``) or a minigan Tensor (``.data``)."""
    if hasattr(x, "requires_grad") and hasattr(x, "data"):
        x = x.data
    if not isinstance(x, np.ndarray) and hasattr(x, "get"):
        x = x.get()
    return np.asarray(x)


def to_uint8(x):
    """Values in [-1, 1] -> uint8 in [0, 255] (clipped: a generator may overshoot slightly)."""
    return np.clip(np.rint((np.asarray(x, dtype=np.float64) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def make_grid(images, nrow=None, padding=2, pad_value=0):
    """Tile images into one picture, row by row.

    Args:
        images: (n, c, h, w) array in [-1, 1], c = 1 or 3.
        nrow (int or None): images per row; None means ceil(sqrt(n)), a near-square grid.
        padding (int): pixels between images and around the border.
        pad_value (int): grey level 0..255 of the padding.
    Returns:
        uint8 array (H, W) for c = 1 or (H, W, 3) for c = 3, with
        H = rows * (h + padding) + padding and W = nrow * (w + padding) + padding.
    """
    x = to_numpy(images)
    if x.ndim != 4 or x.shape[1] not in (1, 3) or len(x) == 0:
        raise ValueError(f"make_grid needs (n, c, h, w) images with n >= 1 and c = 1 or 3, got {x.shape}")
    n, c, h, w = x.shape
    nrow = min(nrow or math.ceil(math.sqrt(n)), n)
    rows = math.ceil(n / nrow)
    grid = np.full((c, rows * (h + padding) + padding, nrow * (w + padding) + padding), pad_value, np.uint8)
    pixels = to_uint8(x)
    for i in range(n):
        top, left = padding + (i // nrow) * (h + padding), padding + (i % nrow) * (w + padding)
        grid[:, top:top + h, left:left + w] = pixels[i]
    return grid[0] if c == 1 else grid.transpose(1, 2, 0)


def write_png(img, path):
    """Save a Pillow image as PNG atomically (minigan.files), creating parent folders.

    Raises:
        MiniganError: the path cannot be written (permissions, a file where a folder should be, ...).
    """
    with files.atomic_open(path, "image", "choose a writable output folder.") as f:
        img.save(f, format="PNG")


def _font(size):
    return ImageFont.load_default(size=size)


def _label(draw, xy, text, font):
    """Write text on a dark box, so it reads on any image."""
    left, top, right, bottom = draw.textbbox(xy, text, font=font)
    draw.rectangle((left - 1, top - 1, right + 1, bottom + 1), fill=(0, 0, 0))
    draw.text(xy, text, fill=(255, 255, 0), font=font)


def save_grid(images, path, nrow=None, padding=2, labels=None):
    """Save images as a PNG grid (grayscale or RGB), optionally with a label on each image.

    Args:
        images: (n, c, h, w) in [-1, 1]; numpy, cupy or Tensor.
        path (str): the PNG to write; parent folders are created.
        nrow (int or None): images per row (None: near-square).
        padding (int): pixels between images.
        labels (sequence or None): one short text (e.g. the class) per image, written in its
            top-left corner; the grid is then RGB and enlarged so each image is >= 48 pixels.
    """
    x = to_numpy(images)
    img = Image.fromarray(make_grid(x, nrow, padding))
    if labels is not None:
        if len(labels) != len(x):
            raise ValueError(f"{len(labels)} labels for {len(x)} images")
        h, w = x.shape[2:]
        scale = max(1, math.ceil(MIN_LABELLED_CELL / min(h, w)))
        img = img.convert("RGB").resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
        draw, font = ImageDraw.Draw(img), _font(max(10, (min(h, w) * scale) // 4))
        ncol = min(nrow or math.ceil(math.sqrt(len(x))), len(x))
        for i, text in enumerate(labels):
            top, left = padding + (i // ncol) * (h + padding), padding + (i % ncol) * (w + padding)
            _label(draw, (left * scale + 2, top * scale + 1), str(text), font)
    write_png(img, path)


def _normalized(x):
    """Stretch one band to [-1, 1] by its own min and max (a constant band becomes mid-grey)."""
    lo, hi = float(x.min()), float(x.max())
    return np.zeros_like(x) if hi <= lo else (x - lo) / (hi - lo) * 2 - 1


def save_rows(rows, path, padding=2, normalize=False, row_labels=None, scale=1):
    """Save one row of images per entry (one per class, or one per Laplacian-pyramid band).

    Rows may differ in image count and size; each row is as tall as its images.

    Args:
        rows (list of arrays): each (n_i, c_i, h_i, w_i); c_i = 1 or 3 (gray rows are shown as RGB
            when any row is RGB).
        path (str): the PNG to write.
        padding (int): pixels between images and rows.
        normalize (bool): stretch each row to its own min..max (for bands of any range, such as
            pyramid residuals); otherwise values are taken as [-1, 1].
        row_labels (sequence of str or None): a caption left of each row.
        scale (int): integer enlargement (nearest neighbour) of the finished picture.
    """
    rows = [to_numpy(r) for r in rows]
    if not rows:
        raise ValueError("save_rows needs at least one row")
    rgb = any(r.shape[1] == 3 for r in rows)
    grids = []
    for r in rows:
        r = _normalized(r) if normalize else r
        grids.append(Image.fromarray(make_grid(r, len(r), padding)).convert("RGB" if rgb else "L"))
    font = _font(12)
    margin = 0
    if row_labels is not None:
        probe = ImageDraw.Draw(Image.new("L", (1, 1)))
        margin = max(int(probe.textlength(str(t), font=font)) for t in row_labels) + 8
    # neighbouring rows share a padding line; a captioned row is at least one text line tall
    steps = [max(g.height - padding, 16 if row_labels is not None else 0) for g in grids]
    canvas = Image.new("RGB" if rgb else "L", (margin + max(g.width for g in grids), sum(steps) + padding), 0)
    draw, top = ImageDraw.Draw(canvas), 0
    for k, g in enumerate(grids):
        canvas.paste(g, (margin, top))
        if row_labels is not None:
            draw.text((4, top + padding), str(row_labels[k]), fill=(255,) * 3 if rgb else 255, font=font)
        top += steps[k]
    if scale > 1:
        canvas = canvas.resize((canvas.width * scale, canvas.height * scale), Image.Resampling.NEAREST)
    write_png(canvas, path)


def _downsample(y, max_points):
    """(x, y) with at most max_points bucket means, so a long run draws one point per pixel or so."""
    if len(y) <= max_points:
        return np.arange(len(y), dtype=np.float64), y
    edges = np.linspace(0, len(y), max_points + 1).astype(int)
    xs, ys = (edges[:-1] + edges[1:] - 1) / 2, np.full(max_points, np.nan)
    for k, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        chunk = y[a:b][np.isfinite(y[a:b])]
        if chunk.size:
            ys[k] = chunk.mean()
    return xs, ys


def _draw_series(draw, xs, ys, to_px, colour):
    """Draw the finite runs of one series as lines (NaN/inf break the line, never bend it)."""
    finite = np.isfinite(ys)
    breaks = np.flatnonzero(np.diff(finite.astype(np.int8)) != 0) + 1
    for run in np.split(np.arange(len(ys)), breaks):
        if len(run) and finite[run[0]]:
            points = [to_px(xs[i], ys[i]) for i in run]
            if len(points) == 1:
                (px, py), r = points[0], 2
                draw.ellipse((px - r, py - r, px + r, py + r), fill=colour)
            else:
                draw.line(points, fill=colour, width=2)


def _draw_axes(draw, box, y_range, n, font):
    """Frame, grid and tick labels; y ticks at the data's min, max and three points between."""
    left, top, right, bottom = box
    lo, hi, ylo, yhi = y_range
    for k in range(5):
        y = lo + (hi - lo) * k / 4
        py = top + (yhi - y) / (yhi - ylo) * (bottom - top)
        draw.line((left, py, right, py), fill=(225, 225, 225))
        draw.text((left - 6, py), f"{y:.4g}", fill="black", font=font, anchor="rm")
    for k in range(5):
        x = round((n - 1) * k / 4)
        px = left + x / max(n - 1, 1) * (right - left)
        draw.text((px, bottom + 6), str(x), fill="black", font=font, anchor="ma")
    draw.rectangle(box, outline="black")


def save_loss_curve(history, path, title="losses", size=(800, 450)):
    """Plot each named series of a training history as a coloured line, with a legend.

    Args:
        history (dict[str, list[float]]): e.g. {"loss_D": [...], "loss_G": [...]}, one value per
            logged step; non-finite values leave a gap.
        path (str): the PNG to write.
        title (str): caption above the plot.
        size (tuple): (width, height) in pixels.
    """
    series = {name: np.asarray(to_numpy(v), dtype=np.float64).ravel() for name, v in history.items()}
    width, height = size
    box = (72, 28, width - 16, height - 28)  # left, top, right, bottom of the plot area
    img = Image.new("RGB", size, "white")
    draw, font = ImageDraw.Draw(img), _font(12)
    draw.text((width / 2, 6), title, fill="black", font=_font(14), anchor="ma")
    finite = [v[np.isfinite(v)] for v in series.values()]
    if not any(f.size for f in finite):
        draw.text((width / 2, height / 2), "no finite values yet", fill="black", font=font, anchor="mm")
        return write_png(img, path)
    lo, hi = min(f.min() for f in finite if f.size), max(f.max() for f in finite if f.size)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    ylo, yhi = lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)
    n = max(len(v) for v in series.values())
    _draw_axes(draw, box, (lo, hi, ylo, yhi), n, font)

    def to_px(x, y):
        return (box[0] + x / max(n - 1, 1) * (box[2] - box[0]),
                box[1] + (yhi - y) / (yhi - ylo) * (box[3] - box[1]))

    for k, v in enumerate(series.values()):
        _draw_series(draw, *_downsample(v, box[2] - box[0]), to_px, COLOURS[k % len(COLOURS)])
    _draw_legend(draw, box, series, finite, font)
    write_png(img, path)


def _draw_legend(draw, box, series, finite, font):
    """Top-right box: a colour swatch, the name, and the min, max and last finite value of each series."""
    texts = [f"{name}: min {f.min():.4g}, max {f.max():.4g}, last {f[-1]:.4g}" if f.size else f"{name}: no values"
             for name, f in zip(series, finite)]
    text_w = max(draw.textlength(t, font=font) for t in texts)
    left, top = box[2] - text_w - 42, box[1] + 6
    draw.rectangle((left, top, box[2] - 6, top + 16 * len(texts) + 6), fill="white", outline=(160, 160, 160))
    for k, text in enumerate(texts):
        y = top + 4 + 16 * k
        draw.line((left + 6, y + 7, left + 26, y + 7), fill=COLOURS[k % len(COLOURS)], width=3)
        draw.text((left + 32, y), text, fill="black", font=font)


def save_scatter(points, centres, path, title="", size=360, std=None):
    """Plot 2-D samples (blue dots) over the true modes (green rings): the mode-collapse figure of
    Metz et al. 2016 and PacGAN.

    Args:
        points: (n, 2) samples; numpy, cupy or Tensor. Points outside the view are left out.
        centres: (k, 2) the modes' centres; the view is their bounding box plus a 1.5-unit margin.
        path (str): the PNG to write.
        title (str): a caption in the top-left corner.
        size (int): side of the square picture in pixels.
        std (float or None): draw each mode's 3-std circle (the high-quality zone) when given.
    """
    points, centres = np.asarray(to_numpy(points), dtype=np.float64), np.asarray(centres, dtype=np.float64)
    lo, hi = centres.min() - 1.5, centres.max() + 1.5
    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)

    def to_px(p):
        return (p - lo) / (hi - lo) * (size - 1) * np.array([1.0, -1.0]) + np.array([0.0, size - 1.0])

    ring = max(3.0, (3 * std if std else 0.1) / (hi - lo) * size)
    for cx, cy in to_px(centres):
        draw.ellipse((cx - ring, cy - ring, cx + ring, cy + ring), outline=(44, 160, 44), width=2)
    finite = points[np.isfinite(points).all(axis=1)]
    inside = finite[((finite >= lo) & (finite <= hi)).all(axis=1)]
    for px, py in to_px(inside):
        draw.rectangle((px - 1, py - 1, px + 1, py + 1), fill=(31, 119, 180))
    if title:
        draw.text((6, 4), title, fill="black", font=_font(13))
    outside = len(points) - len(inside)
    if outside:
        draw.text((6, size - 18), f"{outside} of {len(points)} outside the view", fill=(200, 0, 0), font=_font(11))
    draw.rectangle((0, 0, size - 1, size - 1), outline=(160, 160, 160))
    write_png(img, path)


def save_strip(paths, path, max_frames=10, height=180):
    """One PNG of pictures side by side, e.g. a run's per-epoch scatters: at most ``max_frames`` of
    them, evenly spaced from first to last, each scaled to ``height`` pixels."""
    if not paths:
        raise ValueError("save_strip needs at least one picture")
    m = min(max_frames, len(paths))
    picks = sorted({round(i * (len(paths) - 1) / max(1, m - 1)) for i in range(m)})
    frames = []
    for i in picks:
        with Image.open(paths[i]) as im:
            frames.append(im.convert("RGB").resize((round(im.width * height / im.height), height),
                                                   Image.Resampling.LANCZOS))
    canvas = Image.new("RGB", (sum(f.width for f in frames) + 2 * (len(frames) - 1), height), "white")
    left = 0
    for f in frames:
        canvas.paste(f, (left, 0))
        left += f.width + 2
    write_png(canvas, path)
