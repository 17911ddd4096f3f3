"""2-d convolution and transposed convolution by im2col / col2im and one GEMM.

Notation: x is (n, c, h, w); W is (oc, c, kh, kw) for conv2d and (c, oc, kh, kw)
for conv_transpose2d (PyTorch's layouts); sy, sx are strides, ph, pw paddings.
``col`` follows Note [col layout] in minigan/cpu_kernels.py: shape
(c*kh*kw, n*out_h*out_w), one column per output position. Then

    conv2d:           y2 = W2 @ col                 (W2 = W as (oc, c*kh*kw))
    conv_transpose2d: col = W2.T @ x2, y = col2im(col)   (the data gradient of conv2d)

so each direction of one is the other direction of the other.

Note [GEMM operand order]: OpenBLAS is much slower on some transposed-operand products
than on the same product written the other way round (measured here: gW = gy2 @ col.T took
124 ms for D's (128, 6272) x (6272, 1024) where (col @ gy2.T).T took 24 ms; W2.T @ gy2 took
2x as long as with W2.T copied first). The GEMMs below are written in the fast order; the
small weight matrices are copied, never the big col.
"""

from minigan import backend, cpu_kernels
from minigan.dispatch import kernels_for
from minigan.errors import MiniganError
from minigan.function import Function


# Note [recomputed cols]
#     conv2d's backward needs col for the weight gradient (gW2 = gy2 @ col.T), and col holds c*kh*kw
#     numbers per output position: 4x the input for a 4x4 stride-2 conv, 9x for a 3x3 stride-1 one.
#     Kept until the backward, the cols of a D step (D on real and on fake images, both graphs alive
#     until loss_D.backward()) were most of a step's peak memory: dcgan64's (64 -> 128, 32 -> 16 px)
#     col is 64 MiB, twice over. PyTorch keeps the input instead. So does minigan for a col above
#     RECOMPUTED_COL_BYTES: it saves x (alive anyway: it is the input Tensor's array) and runs im2col
#     again in the backward, only if the weight gradient is wanted (G's step, D frozen, never does).
#     The sums are the same, so the numbers are the same bits.
RECOMPUTED_COL_BYTES = 32 * 2**20


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def conv_output_size(size, k, s, p):
    """Output length of a convolution: floor((size + 2p - k) / s) + 1."""
    return (size + 2 * p - k) // s + 1


def conv_transpose_output_size(size, k, s, p, op):
    """Output length of a transposed convolution: (size - 1) s - 2p + k + op."""
    return (size - 1) * s - 2 * p + k + op


def _nchw(y2, n, out_h, out_w):
    """(oc, n*out_h*out_w) GEMM result -> contiguous (n, oc, out_h, out_w)."""
    return y2.reshape(y2.shape[0], n, out_h, out_w).transpose(1, 0, 2, 3).copy()


def _channel_major(x):
    """(n, c, h, w) -> (c, n*h*w), the layout the GEMMs want."""
    n, c, h, w = x.shape
    return x.transpose(1, 0, 2, 3).reshape(c, n * h * w)


class Conv2d(Function):
    """Cross-correlation y = W * x + b, as im2col then one GEMM."""

    def __init__(self, stride=1, padding=0):
        self.stride, self.padding = _pair(stride), _pair(padding)

    def forward(self, x, W, b=None):
        (n, c, h, w), (oc, _, kh, kw) = x.shape, W.shape
        (sy, sx), (ph, pw) = self.stride, self.padding
        out_h, out_w = conv_output_size(h, kh, sy, ph), conv_output_size(w, kw, sx, pw)
        if out_h < 1 or out_w < 1:
            raise MiniganError(f"conv2d: a {kh}x{kw} kernel does not fit a padded {h}x{w} input.")
        self.thin = oc <= cpu_kernels.THIN_OUTPUT and self.stride == (1, 1) and not backend.is_gpu_array(x)
        if self.thin:  # Note [thin convolutions] in minigan/cpu_kernels.py
            y, xp = cpu_kernels.conv2d_thin(x, W, ph, pw)
            if b is not None:
                y += b[None, :, None, None]
            self.save_for_backward(xp, W)
            return y
        col = kernels_for(x).im2col(x, kh, kw, sy, sx, ph, pw, out_h, out_w)
        y2 = W.reshape(oc, -1) @ col
        if b is not None:
            y2 += b[:, None]
        keep = col.nbytes <= RECOMPUTED_COL_BYTES  # Note [recomputed cols]
        self.save_for_backward(x.shape, W, col if keep else x)
        return _nchw(y2, n, out_h, out_w)

    def backward(self, gy):
        if self.thin:
            xp, W = self.saved
            gx, gW = cpu_kernels.conv2d_thin_backward(xp, gy, W, *self.padding, *self.needs_input_grad[:2])
            has_b = len(self.needs_input_grad) > 2 and self.needs_input_grad[2]
            return gx, gW, gy.sum(axis=(0, 2, 3)) if has_b else None
        (n, c, h, w), W, col = self.saved
        (sy, sx), (ph, pw) = self.stride, self.padding
        oc, _, kh, kw = W.shape
        gy2 = _channel_major(gy)
        gx = gW = gb = None
        if self.needs_input_grad[0]:  # gx = col2im(W2.T @ gy2)
            gcol = W.reshape(oc, -1).T.copy() @ gy2  # Note [GEMM operand order]
            gx = kernels_for(gy).col2im(gcol, n, c, h, w, kh, kw, sy, sx, ph, pw, gy.shape[2], gy.shape[3])
            del gcol  # before a recomputed col takes its place
        if self.needs_input_grad[1]:  # gW2 = gy2 @ col.T
            if col.ndim == 4:  # the input was saved: Note [recomputed cols]
                col = kernels_for(col).im2col(col, kh, kw, sy, sx, ph, pw, gy.shape[2], gy.shape[3])
            gW = (col @ gy2.T).T.reshape(W.shape)  # Note [GEMM operand order]
        if len(self.needs_input_grad) > 2 and self.needs_input_grad[2]:
            gb = gy2.sum(axis=1)
        return gx, gW, gb

    def backward_graph(self, gy):
        x, W = self.inputs[:2]
        gx = gW = gb = None
        if self.needs_input_grad[0]:  # conv2d's data gradient is the transposed conv
            op = _output_padding(x.shape, gy.shape, W.shape, self.stride, self.padding)
            gx = conv_transpose2d(gy, W, None, self.stride, self.padding, op)
        if self.needs_input_grad[1]:
            gW = Conv2dGradW(W.shape, self.stride, self.padding)(x, gy)
        if len(self.needs_input_grad) > 2 and self.needs_input_grad[2]:
            gb = gy.sum(axis=(0, 2, 3))
        return gx, gW, gb


def conv2d(x, W, b=None, stride=1, padding=0):
    """2-d convolution (cross-correlation), PyTorch semantics.

    Args:
        x (Tensor): (n, c, h, w).
        W (Tensor): (oc, c, kh, kw).
        b (Tensor or None): (oc,).
        stride (int or pair), padding (int or pair): zero padding on both sides.
    Returns:
        Tensor (n, oc, out_h, out_w), out = floor((in + 2p - k) / s) + 1.
    """
    args = (x, W) if b is None else (x, W, b)
    return Conv2d(stride, padding)(*args)


class ConvTranspose2d(Function):
    """Transposed convolution: one GEMM to columns, then col2im (conv2d's data gradient)."""

    def __init__(self, stride=1, padding=0, output_padding=0):
        self.stride, self.padding = _pair(stride), _pair(padding)
        self.output_padding = _pair(output_padding)

    def forward(self, x, W, b=None):
        (n, c, h, w), (_, oc, kh, kw) = x.shape, W.shape
        (sy, sx), (ph, pw), (oph, opw) = self.stride, self.padding, self.output_padding
        out_h = conv_transpose_output_size(h, kh, sy, ph, oph)
        out_w = conv_transpose_output_size(w, kw, sx, pw, opw)
        if out_h < 1 or out_w < 1:
            raise MiniganError(f"conv_transpose2d: padding {ph, pw} leaves no output for a {h}x{w} input.")
        x2 = _channel_major(x)
        col = W.reshape(c, -1).T.copy() @ x2  # (oc*kh*kw, n*h*w): Note [col layout], grid h x w
        y = kernels_for(x).col2im(col, n, oc, out_h, out_w, kh, kw, sy, sx, ph, pw, h, w)
        if b is not None:
            y += b[None, :, None, None]
        self.save_for_backward(x2, W, (n, h, w))
        return y

    def backward(self, gy):
        x2, W, (n, h, w) = self.saved
        (sy, sx), (ph, pw) = self.stride, self.padding
        c, oc, kh, kw = W.shape
        gcol = kernels_for(gy).im2col(gy, kh, kw, sy, sx, ph, pw, h, w)  # (oc*kh*kw, n*h*w)
        gx = gW = gb = None
        if self.needs_input_grad[0]:
            gx = _nchw(W.reshape(c, -1) @ gcol, n, h, w)
        if self.needs_input_grad[1]:
            gW = (gcol @ x2.T).T.reshape(W.shape)  # Note [GEMM operand order]
        if len(self.needs_input_grad) > 2 and self.needs_input_grad[2]:
            gb = gy.sum(axis=(0, 2, 3))
        return gx, gW, gb

    def backward_graph(self, gy):
        x, W = self.inputs[:2]
        gx = gW = gb = None
        if self.needs_input_grad[0]:  # the transposed conv's data gradient is conv2d
            gx = conv2d(gy, W, None, self.stride, self.padding)
        if self.needs_input_grad[1]:  # conv2d's weight gradient with gy as the image
            gW = Conv2dGradW(W.shape, self.stride, self.padding)(gy, x)
        if len(self.needs_input_grad) > 2 and self.needs_input_grad[2]:
            gb = gy.sum(axis=(0, 2, 3))
        return gx, gW, gb


def conv_transpose2d(x, W, b=None, stride=1, padding=0, output_padding=0):
    """2-d transposed convolution ("deconvolution"), PyTorch semantics.

    Args:
        x (Tensor): (n, c, h, w).
        W (Tensor): (c, oc, kh, kw) -- note: input channels first, as in PyTorch.
        b (Tensor or None): (oc,).
        stride, padding, output_padding (int or pair): output_padding < stride adds
            rows/columns at the bottom/right to pick among the sizes that map back.
    Returns:
        Tensor (n, oc, out_h, out_w), out = (in - 1) s - 2p + k + output_padding.
    """
    sy, sx = _pair(stride)
    oph, opw = _pair(output_padding)
    if oph >= sy or opw >= sx:
        raise MiniganError(f"conv_transpose2d: output_padding {oph, opw} must be smaller than stride {sy, sx}.")
    args = (x, W) if b is None else (x, W, b)
    return ConvTranspose2d(stride, padding, output_padding)(*args)


class Conv2dGradW(Function):
    """conv2d's weight gradient gW(x, gy) = gy2 @ col(x).T, as an op (Note [second order]).

    It is bilinear in x and gy; its backward is made of the two convolutions:
    d/dx = conv_transpose2d(gy, ggW) and d/dgy = conv2d(x, ggW).
    """

    def __init__(self, w_shape, stride, padding):
        self.w_shape, self.stride, self.padding = tuple(w_shape), _pair(stride), _pair(padding)

    def forward(self, x, gy):
        _, _, kh, kw = self.w_shape
        (sy, sx), (ph, pw) = self.stride, self.padding
        col = kernels_for(x).im2col(x, kh, kw, sy, sx, ph, pw, gy.shape[2], gy.shape[3])
        self.save_for_backward(x, gy)
        return (col @ _channel_major(gy).T).T.reshape(self.w_shape)  # Note [GEMM operand order]

    def backward(self, ggW):
        x, gy = self.saved
        op = _output_padding(x.shape, gy.shape, self.w_shape, self.stride, self.padding)
        gx = ConvTranspose2d(self.stride, self.padding, op).forward(gy, ggW) if self.needs_input_grad[0] else None
        ggy = Conv2d(self.stride, self.padding).forward(x, ggW) if self.needs_input_grad[1] else None
        return gx, ggy

    def backward_graph(self, ggW):
        x, gy = self.inputs
        op = _output_padding(x.shape, gy.shape, self.w_shape, self.stride, self.padding)
        gx = conv_transpose2d(gy, ggW, None, self.stride, self.padding, op) if self.needs_input_grad[0] else None
        ggy = conv2d(x, ggW, None, self.stride, self.padding) if self.needs_input_grad[1] else None
        return gx, ggy


def _output_padding(x_shape, y_shape, w_shape, stride, padding):
    """The output_padding that makes conv_transpose2d map conv2d's output back to x's size.

    conv2d floors (h + 2p - k) / s, so several h give the same out_h; the remainder
    picks the one that x had.
    """
    (sy, sx), (ph, pw) = _pair(stride), _pair(padding)
    kh, kw = w_shape[2], w_shape[3]
    oph = x_shape[2] - conv_transpose_output_size(y_shape[2], kh, sy, ph, 0)
    opw = x_shape[3] - conv_transpose_output_size(y_shape[3], kw, sx, pw, 0)
    return oph, opw
