"""The roofline view: the step's and each layer's GEMM work against the machine's SGEMM peak.

    GFLOP/s      GEMM FLOPs (counted in layers.py) over the median time
    % peak       100 x GFLOP/s / the SGEMM peak measured in the same threads (machine.sgemm_peak)
    FLOP floor   GFLOP/step / peak: the step's time if every FLOP ran at the peak and nothing else took any

The peak is one large square float32 matmul, the best case for a GEMM: the thin GEMMs of a DCGAN
layer and everything that is not a GEMM (batch norm, activations, Adam) keep a step well below it.
"""


def gflops(flops, ms):
    """GFLOP/s of ``flops`` done in ``ms`` milliseconds, or None without FLOPs or time."""
    return flops / (ms * 1e6) if flops and ms > 0 else None


def percent_of_peak(rate, peak_gflops):
    """100 x ``rate`` / ``peak_gflops``, or None when the rate is None."""
    return None if rate is None else 100 * rate / peak_gflops


def add_to_step(result, peak):
    """Put the peak, each side's GFLOP/s and % peak, and the FLOP floor into a model's figures.

    Args:
        result (dict): ``suite.bench_model``'s figures (sides, gflop_per_step, layers).
        peak (dict): ``machine.sgemm_peak``'s figures measured in the threads of the run.
    """
    result["sgemm_peak"] = peak
    for side in result["sides"].values():
        side["gflops"] = gflops(result["gflop_per_step"] * 1e9, side["ms_median"])
        side["percent_peak"] = percent_of_peak(side["gflops"], peak["gflops"])
    result["flop_floor_ms"] = 1000 * result["gflop_per_step"] / peak["gflops"]
    if result["layers"] is not None:
        add_to_layers(result["layers"], list(result["sides"]), peak["gflops"])


def add_to_layers(rows, side_names, peak_gflops):
    """Give each layer with FLOPs, per side, 'fwd_percent_peak' and 'bwd_percent_peak' (backward: 2x the FLOPs)."""
    for row in rows:
        if not row["flops"]:
            continue
        for name in side_names:
            times = row[name]
            times["fwd_percent_peak"] = percent_of_peak(gflops(row["flops"], times["fwd_ms"]), peak_gflops)
            times["bwd_percent_peak"] = percent_of_peak(gflops(2 * row["flops"], times["bwd_ms"]), peak_gflops)
