"""The benchmark's results as a table for the terminal (and docs/performance.md)."""

from __future__ import annotations

from volnet.bench.machine import describe_blas


def _number(value, digits=1, suffix=""):
    return "—" if value is None else f"{value:.{digits}f}{suffix}"


def table(results: dict) -> str:
    """Markdown tables: one row per case, then peak memory; every speed also as a % of peak."""
    peak = results["matmul_peak_gflops"]
    torch_threads = results.get("torch_threads")
    lines = [
        f"CPU: {results['machine']['cpu']}, {results['machine']['cores']} cores",
        *describe_blas(results["blas"], results["machine"]["avx512"]),
        f"threads: volnet {results['threads']} (its workers, one BLAS thread each), PyTorch "
        f"{'—' if torch_threads is None else torch_threads} (torch.set_num_threads)   "
        f"float32 matmul peak: {peak:.0f} GFLOP/s (NumPy, the kernel above)   "
        f"load average before: {results['load_average'][0]:.2f}",
        f"volnet's 3×3 stride-1 convolutions (≥ {results['winograd_min_depth']} deep): " + (
            f"Winograd F(2×2, 3×3), numba {results['machine']['numba']}. GFLOP/s count direct convolution's "
            "2·N·OH·OW·K·D·F² operations; Winograd does 2.25× fewer multiplies, so its rate can pass the peak."
            if results["winograd"]
            else "im2col (Winograd needs numba: pip install numba; or VOLNET_WINOGRAD=0 was set)")
        + " Each Conv2D row names the algorithm that ran (volnet.ops.conv).",
        "",
        "| case | volnet ms | PyTorch ms | volnet/PyTorch | volnet GFLOP/s (% peak) | PyTorch GFLOP/s (% peak) | agree |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["rows"]:
        speeds = []
        for key in ("volnet_gflops", "torch_gflops"):
            value = row[key]
            speeds.append("—" if value is None else f"{value:.0f} ({100 * value / peak:.0f}%)")
        agree = "—" if row["agreement"] is None else f"{row['agreement']:.0e}"
        name = row["name"] if row.get("algorithm") is None else f"{row['name']} ({row['algorithm']})"
        lines.append(f"| {name} | {_number(row['volnet_ms'])} | {_number(row['torch_ms'])} | "
                     f"{_number(row['ratio'], 2)} | {speeds[0]} | {speeds[1]} | {agree} |")
    if results.get("memory"):
        lines += ["", "| training step, peak memory | volnet MiB | PyTorch MiB | volnet/PyTorch |", "|---|---:|---:|---:|"]
        for row in results["memory"]:
            lines.append(f"| {row['name']} | {_number(row['volnet_mib'])} | {_number(row['torch_mib'])} | "
                         f"{_number(row['ratio'], 2)} |")
        kernels = max(row["volnet_kernels_mib"] for row in results["memory"])
        if kernels:
            lines += ["", f"Not counted above, like PyTorch's own libraries: volnet's process also holds "
                          f"{kernels:.0f} MiB for numba and its compiled loops, loaded once."]
    if not results["torch"]:
        lines += ["", "PyTorch is not installed: only volnet was timed (pip install torch==2.13.0, the CPU build, to compare)."]
    return "\n".join(lines)
