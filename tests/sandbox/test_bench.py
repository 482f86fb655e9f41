from __future__ import annotations

from godel.sandbox import bench, format_bench


def test_bench_rows() -> None:
    rows = bench(["zygote", "no-such-backend"], n=5, warmup=1)
    zygote, missing = rows
    assert zygote["available"] and zygote["p50_ms"] > 0 and zygote["evals_per_s"] > 0
    assert zygote["cpu_ms_per_eval"] > 0
    assert not missing["available"] and "unknown" in missing["error"]
    table = format_bench(rows)
    assert "zygote" in table and "no-such-backend" in table
