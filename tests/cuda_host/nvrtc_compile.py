"""Compile CUDA sources with NVRTC (cuda-bindings), in a process of its own: ``python nvrtc_compile.py``.

stdin: JSON ``[{"name", "source", "options", "entries"}]``; stdout: JSON ``{"problem": why NVRTC
cannot be used or null, "results": [{"ok", "log", "missing", "shared_bytes"}]}``, one result per
job: whether it compiled, NVRTC's log, the entry points not in the output, and the static shared
memory the PTX declares. tests/test_cuda_nvrtc.py runs it apart from the test process: loading
cuda-bindings there changed what other tests saw.
"""

import json
import re
import sys


def _call(result, what):
    err, *rest = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        raise RuntimeError(f"{what}: {err}")
    return rest


def compile_one(nvrtc, job):
    (program,) = _call(nvrtc.nvrtcCreateProgram(job["source"].encode(), job["name"].encode(), 0, [], []), "create")
    try:
        options = [o.encode() for o in job["options"]]
        status = nvrtc.nvrtcCompileProgram(program, len(options), options)[0]
        (size,) = _call(nvrtc.nvrtcGetProgramLogSize(program), "log size")
        log = b" " * size
        _call(nvrtc.nvrtcGetProgramLog(program, log), "log")
        log = log.decode(errors="replace").rstrip("\0").strip()
        if int(status) != 0:
            return {"ok": False, "log": log, "missing": [], "shared_bytes": 0}
        cubin = any(o.startswith("-arch=sm_") for o in job["options"])
        get_size, get = ((nvrtc.nvrtcGetCUBINSize, nvrtc.nvrtcGetCUBIN) if cubin
                         else (nvrtc.nvrtcGetPTXSize, nvrtc.nvrtcGetPTX))
        (size,) = _call(get_size(program), "output size")
        output = b" " * size
        _call(get(program, output), "output")
        text = output.decode(errors="replace")
        shared = 0 if cubin else sum(int(n) for n in re.findall(r"\.shared\s.*?\.b8\s+\w+\[(\d+)\]", text))
        missing = [e for e in job["entries"] if e.encode() not in output]
        return {"ok": True, "log": log, "missing": missing, "shared_bytes": shared}
    finally:
        nvrtc.nvrtcDestroyProgram(program)


def main():
    jobs = json.load(sys.stdin)
    try:
        from cuda.bindings import nvrtc

        _call(nvrtc.nvrtcVersion(), "nvrtcVersion")
    except Exception as e:  # not installed, or the NVRTC library cannot be loaded
        json.dump({"problem": f"{type(e).__name__}: {e}", "results": []}, sys.stdout)
        return
    json.dump({"problem": None, "results": [compile_one(nvrtc, job) for job in jobs]}, sys.stdout)


if __name__ == "__main__":
    main()
