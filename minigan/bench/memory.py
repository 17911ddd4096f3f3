"""Peak memory of one side, measured in a process of its own.

A process's peak RSS covers everything it ever held, so the two sides must not share a process
for this figure: each runs ``python -m minigan.bench.memory``,
builds its models, runs a few training steps and prints one JSON line:

    rss_build_mib   peak RSS once the libraries are imported and the models and data built
    peak_rss_mib    peak RSS after the steps
    device_peak_mib GPU only: peak bytes in use -- CuPy's memory pool for minigan (tracked by a
                    wrapping allocator), torch.cuda.max_memory_allocated for PyTorch
"""

import json
import resource
import subprocess
import sys

from minigan.bench import machine


def peak_rss_mib():
    """This process's peak resident set size in MiB.

    On Linux ``ru_maxrss`` survives fork + exec: a child starts with its parent's peak (measured:
    a child of a 327 MiB parent reported 327 MiB, its VmHWM 13 MiB). So where /proc exists the
    figure is VmHWM, the peak of this process's own address space; elsewhere ru_maxrss.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / 2**20 if sys.platform == "darwin" else maxrss / 1024  # bytes on macOS, KiB elsewhere


def _track_cupy_peak():
    """Route CuPy's allocations through the default pool, recording the most bytes in use at once."""
    import cupy

    pool = cupy.get_default_memory_pool()
    peak = [pool.used_bytes()]

    def malloc(size):
        memory = pool.malloc(size)
        peak[0] = max(peak[0], pool.used_bytes())  # usage only grows at an allocation
        return memory

    cupy.cuda.set_allocator(malloc)
    return peak


def _build(side_name, arch, batch, device, tf32):
    if side_name == "torch":
        from minigan.bench import peer_torch

        return peer_torch.TorchSide(arch, batch, device, tf32=tf32)
    from minigan.bench import step

    return step.MiniganSide(arch, batch, device, tf32=tf32)


def measure(side_name, arch, batch, steps, threads, device, tf32):
    """Build one side in this process, run ``steps`` steps, return its memory figures."""
    machine.set_threads(threads, with_torch=side_name == "torch")
    cupy_peak = _track_cupy_peak() if device == "gpu" and side_name == "minigan" else None
    if device == "gpu" and side_name == "torch":
        import torch

        torch.cuda.reset_peak_memory_stats()
    side = _build(side_name, arch, batch, device, tf32)
    side.sync()
    figures = {"side": side_name, "rss_build_mib": peak_rss_mib()}
    for _ in range(steps):
        side.step()
        side.sync()
    figures["peak_rss_mib"] = peak_rss_mib()
    if cupy_peak is not None:
        figures["device_peak_mib"] = cupy_peak[0] / 2**20
    elif device == "gpu":
        import torch

        figures["device_peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return figures


def measure_in_subprocess(side_name, arch, batch, steps, threads, device, tf32, timeout=600):
    """``measure`` in a fresh Python process; a dict with 'error' when it failed."""
    command = [sys.executable, "-m", "minigan.bench.memory", side_name, arch, str(batch), str(steps),
               str(threads), device, "1" if tf32 else "0"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"side": side_name, "error": f"timed out after {timeout} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"side": side_name, "error": f"exit status {done.returncode}: {last}"}
    return json.loads(lines[-1])


def main(argv):
    side_name, arch, batch, steps, threads, device, tf32 = argv
    figures = measure(side_name, arch, int(batch), int(steps), int(threads), device, tf32 == "1")
    print(json.dumps(figures))


if __name__ == "__main__":
    main(sys.argv[1:])
