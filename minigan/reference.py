"""Floor 4': naive NumPy versions of every op -- the ground truth for tests and for a reader.

Each function is written straight from its definition, as plain loops where the loop
*is* the definition (convolutions, im2col, batch norm per channel), and as one NumPy
expression where the op is elementwise. Nothing here is fast and nothing here is clever:
the fast kernels (``cpu_kernels``, ``cuda``) and the ops (``functional``) are tested
against these functions, never the other way round.

Notation: x is (n, c, h, w) (NCHW, like PyTorch); W is a weight; sy, sx strides;
ph, pw zero paddings; out_h, out_w output sizes. ``col`` follows Note [col layout]
in minigan/cpu_kernels.py.
"""

import numpy as np


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def conv2d(x, W, b=None, stride=1, padding=0):
    """Cross-correlation y[n, o, oy, ox] = b[o] + sum_{c,i,j} xpad[n, c, oy*sy + i, ox*sx + j] W[o, c, i, j].

    Args:
        x: (n, c, h, w). W: (oc, c, kh, kw). b: (oc,) or None.
        stride, padding: int or pair; padding is zeros on both sides.
    Returns:
        (n, oc, out_h, out_w), out = floor((in + 2p - k) / s) + 1.
    """
    (sy, sx), (ph, pw) = _pair(stride), _pair(padding)
    n, _, h, w = x.shape
    oc, _, kh, kw = W.shape
    out_h, out_w = (h + 2 * ph - kh) // sy + 1, (w + 2 * pw - kw) // sx + 1
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    y = np.zeros((n, oc, out_h, out_w), dtype=x.dtype)
    for oy in range(out_h):
        for ox in range(out_w):
            for i in range(kh):
                for j in range(kw):  # one kernel tap: a (n, c) @ (c, oc) product
                    y[:, :, oy, ox] += xpad[:, :, oy * sy + i, ox * sx + j] @ W[:, :, i, j].T
    if b is not None:
        y += b[None, :, None, None]
    return y


def conv_transpose2d(x, W, b=None, stride=1, padding=0, output_padding=0):
    """Transposed convolution: each input pixel scatters W, scaled by its value, into the output.

    y[n, o, iy*sy - ph + i, ix*sx - pw + j] += x[n, c, iy, ix] W[c, o, i, j], for every
    input position (iy, ix) and tap (i, j) that lands inside the output.

    Args:
        x: (n, c, h, w). W: (c, oc, kh, kw) (input channels first, as in PyTorch).
        b: (oc,) or None. stride, padding, output_padding: int or pair.
    Returns:
        (n, oc, out_h, out_w), out = (in - 1) s - 2p + k + output_padding.
    """
    (sy, sx), (ph, pw), (oph, opw) = _pair(stride), _pair(padding), _pair(output_padding)
    n, _, h, w = x.shape
    _, oc, kh, kw = W.shape
    out_h, out_w = (h - 1) * sy - 2 * ph + kh + oph, (w - 1) * sx - 2 * pw + kw + opw
    y = np.zeros((n, oc, out_h, out_w), dtype=x.dtype)
    for iy in range(h):
        for ix in range(w):
            for i in range(kh):
                for j in range(kw):
                    oy, ox = iy * sy - ph + i, ix * sx - pw + j
                    if 0 <= oy < out_h and 0 <= ox < out_w:
                        y[:, :, oy, ox] += x[:, :, iy, ix] @ W[:, :, i, j]
    if b is not None:
        y += b[None, :, None, None]
    return y


def im2col(x, kh, kw, sy, sx, ph, pw):
    """Unfold x into columns, Note [col layout]:

    col[(ci*kh + i)*kw + j, (ni*out_h + oy)*out_w + ox] = x[ni, ci, oy*sy - ph + i, ox*sx - pw + j]
    (zero outside x), out = floor((in + 2p - k) / s) + 1.
    """
    n, c, h, w = x.shape
    out_h, out_w = (h + 2 * ph - kh) // sy + 1, (w + 2 * pw - kw) // sx + 1
    col = np.zeros((c * kh * kw, n * out_h * out_w), dtype=x.dtype)
    for ni, ci, i, j, oy, ox in np.ndindex(n, c, kh, kw, out_h, out_w):
        iy, ix = oy * sy - ph + i, ox * sx - pw + j
        if 0 <= iy < h and 0 <= ix < w:
            col[(ci * kh + i) * kw + j, (ni * out_h + oy) * out_w + ox] = x[ni, ci, iy, ix]
    return col


def col2im(col, x_shape, kh, kw, sy, sx, ph, pw):
    """The adjoint of im2col: every col entry is added back onto the x element it was read from."""
    n, c, h, w = x_shape
    out_h, out_w = (h + 2 * ph - kh) // sy + 1, (w + 2 * pw - kw) // sx + 1
    x = np.zeros(x_shape, dtype=col.dtype)
    for ni, ci, i, j, oy, ox in np.ndindex(n, c, kh, kw, out_h, out_w):
        iy, ix = oy * sy - ph + i, ox * sx - pw + j
        if 0 <= iy < h and 0 <= ix < w:
            x[ni, ci, iy, ix] += col[(ci * kh + i) * kw + j, (ni * out_h + oy) * out_w + ox]
    return x


def linear(x, W, b=None):
    """y = x W^T + b, W of shape (out, in)."""
    y = x @ W.T
    return y if b is None else y + b


def batch_norm(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    """Batch normalization, one channel at a time, with PyTorch's running statistics.

    Train: y = gamma (x - mean) / sqrt(var + eps) + beta with the batch mean and biased
    variance of the channel's m values; running_mean <- (1 - momentum) running_mean +
    momentum mean, running_var likewise with the UNBIASED variance var * m / (m - 1).
    Eval: the running statistics normalise and stay as they are.

    Args:
        x: (n, c) or (n, c, h, w). gamma, beta: (c,).
        running_mean, running_var: (c,), or None in training mode to track nothing.
    Returns:
        (y, new_running_mean, new_running_var) -- new arrays, the inputs are not touched.
    """
    y = np.empty_like(x)
    tracked = running_mean is not None
    new_mean, new_var = (running_mean.copy(), running_var.copy()) if tracked else (None, None)
    for ci in range(x.shape[1]):
        values = x[:, ci]
        if training:
            m = values.size
            mean, var = values.mean(), ((values - values.mean()) ** 2).mean()
            if tracked:
                new_mean[ci] = (1 - momentum) * running_mean[ci] + momentum * mean
                new_var[ci] = (1 - momentum) * running_var[ci] + momentum * var * m / (m - 1)
        else:
            mean, var = running_mean[ci], running_var[ci]
        y[:, ci] = gamma[ci] * (values - mean) / np.sqrt(var + eps) + beta[ci]
    return y, new_mean, new_var


def batch_norm_backward(x, gy, gamma, eps=1e-5):
    """Train-mode batch-norm gradients, by the chain rule through mean and var step by step.

    With xc = x - mean, s = var + eps, dxhat = gy * gamma, per channel over its m values:
    dvar = sum(dxhat xc) * (-1/2) s^(-3/2); dmean = -sum(dxhat) / sqrt(s) - 2 dvar sum(xc) / m;
    gx = dxhat / sqrt(s) + 2 dvar xc / m + dmean / m; ggamma = sum(gy xhat); gbeta = sum(gy).

    Returns:
        (gx, ggamma, gbeta); gx has x's shape, the others (c,).
    """
    gx = np.empty_like(x)
    ggamma, gbeta = np.empty_like(gamma), np.empty_like(gamma)
    for ci in range(x.shape[1]):
        xs, gys = x[:, ci], gy[:, ci]
        m = xs.size
        xc = xs - xs.mean()
        s = (xc**2).mean() + eps
        dxhat = gys * gamma[ci]
        dvar = (dxhat * xc).sum() * -0.5 * s**-1.5
        dmean = -dxhat.sum() / np.sqrt(s) - 2 * dvar * xc.sum() / m
        gx[:, ci] = dxhat / np.sqrt(s) + 2 * dvar * xc / m + dmean / m
        ggamma[ci], gbeta[ci] = (gys * xc / np.sqrt(s)).sum(), gys.sum()
    return gx, ggamma, gbeta


def relu(x):
    """max(x, 0)."""
    return np.maximum(x, 0)


def relu_backward(y, gy):
    """gy * (y > 0)."""
    return np.where(y > 0, gy, 0).astype(gy.dtype)


def leaky_relu(x, slope):
    """x if x > 0 else slope * x."""
    return np.where(x > 0, x, slope * x).astype(x.dtype)


def leaky_relu_backward(x, gy, slope):
    """gy * (1 if x > 0 else slope)."""
    return np.where(x > 0, gy, slope * gy).astype(gy.dtype)


def tanh(x):
    """(e^x - e^-x) / (e^x + e^-x)."""
    return np.tanh(x)


def tanh_backward(y, gy):
    """gy * (1 - y^2)."""
    return gy * (1 - y * y)


def sigmoid(x):
    """1 / (1 + e^-x), written with e^-|x| <= 1 so that no x overflows."""
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + z), z / (1 + z)).astype(x.dtype)


def sigmoid_backward(y, gy):
    """gy * y * (1 - y)."""
    return gy * y * (1 - y)


def bce_with_logits(x, t):
    """-(t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))) = max(x, 0) - x t + log(1 + e^-|x|)."""
    return (np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))).astype(x.dtype)


def bce_with_logits_backward(x, t, scale):
    """(sigmoid(x) - t) * scale: the gradient of scale * bce_with_logits(x, t)."""
    return ((sigmoid(x) - t) * scale).astype(x.dtype)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Mean over each window; padded zeros count in the mean (PyTorch's default).

    y[n, c, oy, ox] = sum_{i,j} xpad[n, c, oy*sy + i, ox*sx + j] / (kh kw); stride defaults to kernel_size.
    """
    (kh, kw) = _pair(kernel_size)
    (sy, sx), (ph, pw) = _pair(kernel_size if stride is None else stride), _pair(padding)
    n, c, h, w = x.shape
    out_h, out_w = (h + 2 * ph - kh) // sy + 1, (w + 2 * pw - kw) // sx + 1
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    y = np.zeros((n, c, out_h, out_w), dtype=x.dtype)
    for oy in range(out_h):
        for ox in range(out_w):
            y[:, :, oy, ox] = xpad[:, :, oy * sy : oy * sy + kh, ox * sx : ox * sx + kw].mean(axis=(2, 3))
    return y


def upsample_nearest2d(x, scale):
    """y[n, c, oy, ox] = x[n, c, oy // scale, ox // scale]."""
    n, c, h, w = x.shape
    y = np.empty((n, c, h * scale, w * scale), dtype=x.dtype)
    for oy in range(h * scale):
        for ox in range(w * scale):
            y[:, :, oy, ox] = x[:, :, oy // scale, ox // scale]
    return y


def adam_step(p, g, m, v, step, lr, beta1, beta2, eps, weight_decay, eps_root=0.0):
    """One Adam step for one parameter, PyTorch's rule (L2 weight decay, not AdamW).

    g' = g + wd p; m = b1 m + (1 - b1) g'; v = b2 v + (1 - b2) g'^2;
    p = p - lr (m / (1 - b1^step)) / (sqrt(v / (1 - b2^step) + eps_root) + eps); step counts from 1.
    (eps_root = 0 is PyTorch's rule; eps = 0, eps_root = 1e-8 the one of openai/improved-gan's code.)

    Returns:
        (p, m, v) as new arrays.
    """
    g = g + weight_decay * p
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    p = p - lr * (m / (1 - beta1**step)) / (np.sqrt(v / (1 - beta2**step) + eps_root) + eps)
    return p, m, v


def sgd_step(p, g, buf, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    """One SGD step for one parameter, PyTorch's rule.

    g' = g + wd p; with momentum: buf = g' on the first step (buf is None), else
    buf = momentum buf + (1 - dampening) g'; the step direction is g' + momentum buf
    (nesterov) or buf; without momentum it is g' and buf stays None. p = p - lr * direction.

    Returns:
        (p, buf) as new arrays (buf None without momentum).
    """
    g = g + weight_decay * p
    if momentum != 0:
        buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf
    return p - lr * g, buf


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer normalization, one example at a time: the values of its last len(normalized_shape)
    axes get y = weight (v - mean) / sqrt(var + eps) + bias, biased variance.

    Args:
        x: (*, *normalized_shape). weight, bias: normalized_shape, or None (no affine).
    Returns:
        y of x's shape.
    """
    lead = x.shape[: x.ndim - len(tuple(normalized_shape))]
    y = np.empty_like(x)
    for i in np.ndindex(lead):
        values = x[i]
        mean = values.mean()
        var = ((values - mean) ** 2).mean()
        y[i] = (values - mean) / np.sqrt(var + eps)
        if weight is not None:
            y[i] = y[i] * weight + bias
    return y


def instance_norm2d(x, gamma=None, beta=None, running_mean=None, running_var=None, use_input_stats=True,
                    momentum=0.1, eps=1e-5):
    """Instance normalization, one (n, c) plane at a time, with PyTorch's running statistics.

    use_input_stats: y = gamma (v - mean) / sqrt(var + eps) + beta over the plane's m = h*w
    values v (biased variance); running_mean <- (1 - momentum) running_mean + momentum * the
    mean over n of the planes' means, running_var likewise with the UNBIASED var * m / (m - 1).
    Otherwise the running statistics normalise and stay as they are.

    Args:
        x: (n, c, h, w). gamma, beta: (c,) or None (no affine).
        running_mean, running_var: (c,), or None to track nothing.
    Returns:
        (y, new_running_mean, new_running_var) -- new arrays, the inputs are not touched.
    """
    n, c, h, w = x.shape
    y = np.empty_like(x)
    tracked = running_mean is not None
    new_mean, new_var = (running_mean.copy(), running_var.copy()) if tracked else (None, None)
    for ci in range(c):
        means, variances = [], []
        for ni in range(n):
            values = x[ni, ci]
            if use_input_stats:
                mean, var = values.mean(), ((values - values.mean()) ** 2).mean()
                means.append(mean)
                variances.append(var * h * w / (h * w - 1))
            else:
                mean, var = running_mean[ci], running_var[ci]
            y[ni, ci] = (values - mean) / np.sqrt(var + eps)
            if gamma is not None:
                y[ni, ci] = gamma[ci] * y[ni, ci] + beta[ci]
        if tracked and use_input_stats:
            new_mean[ci] = (1 - momentum) * running_mean[ci] + momentum * np.mean(means)
            new_var[ci] = (1 - momentum) * running_var[ci] + momentum * np.mean(variances)
    return y, new_mean, new_var


# Philox4x32-10 and the draws of kernels/random.cu (Note [device draws] there), one counter per draw.
PHILOX_M = (0xD2511F53, 0xCD9E8D57)
PHILOX_W = (0x9E3779B9, 0xBB67AE85)


def philox4x32_10(counters, key):
    """Philox4x32-10: four uint32 words from each counter of four uint32 words, under a key of two.

    Args:
        counters: (n, 4) uint32. key: (k0, k1), two uint32.
    Returns:
        uint32 array (n, 4).
    """
    mask = np.uint64(0xFFFFFFFF)
    c = list(np.asarray(counters, dtype=np.uint64).T)
    k0, k1 = np.uint64(key[0]), np.uint64(key[1])
    for round_ in range(10):
        if round_ > 0:  # bump the key, mod 2^32
            k0, k1 = (k0 + np.uint64(PHILOX_W[0])) & mask, (k1 + np.uint64(PHILOX_W[1])) & mask
        p0, p1 = np.uint64(PHILOX_M[0]) * c[0], np.uint64(PHILOX_M[1]) * c[2]  # 64-bit products: hi, lo
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ k0, p1 & mask, (p0 >> np.uint64(32)) ^ c[3] ^ k1, p0 & mask]
    return np.stack(c, axis=1).astype(np.uint32)


def _draw_words(key, size):
    """Philox4x32-10 of the counters (i mod 2^32, i div 2^32, 0, 0), i = 0..size-1."""
    i = np.arange(size, dtype=np.uint64)
    zeros = np.zeros_like(i)
    return philox4x32_10(np.stack([i & np.uint64(0xFFFFFFFF), i >> np.uint64(32), zeros, zeros], axis=1), key)


def _unit(a, b, dtype):
    """A uniform in [0, 1) from words a (and b): 24 bits for float32, 53 for float64."""
    if np.dtype(dtype) == np.float32:
        return ((a >> 8).astype(np.float32) * np.float32(2.0**-24)).astype(np.float32)
    bits = (a.astype(np.uint64) << np.uint64(21)) + (b >> 11).astype(np.uint64)
    return bits.astype(np.float64) * 2.0**-53


def random_uniform(key, size, dtype=np.float32):
    """Draws 0..size-1 of kernels/random.cu's uniform: U[0, 1) in dtype."""
    w = _draw_words(key, size)
    return _unit(w[:, 0], w[:, 1], dtype)


def random_normal(key, size, dtype=np.float32):
    """Draws 0..size-1 of kernels/random.cu's normal: sqrt(-2 log(1 - u1)) cos(2 pi u2), in dtype."""
    w = _draw_words(key, size)
    u1, u2 = _unit(w[:, 0], w[:, 1], dtype), _unit(w[:, 2], w[:, 3], dtype)
    one, two_pi = np.dtype(dtype).type(1), np.dtype(dtype).type(6.283185307179586)
    return (np.sqrt(-2 * np.log(one - u1)) * np.cos(two_pi * u2)).astype(dtype)
