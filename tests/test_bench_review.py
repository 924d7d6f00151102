"""`make bench-review` on a small queue: it lists every review it wrote, from both stores,
and prints its figures in the documented form."""

from __future__ import annotations

import re

from bench import review_queue


def test_the_bench_lists_what_it_wrote_on_both_stores(capsys):
    assert review_queue.main(["--n", "12"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(" ")[0] for line in out] == [
        "sqlite:",
        "sqlite:",
        "postgresql:",
        "postgresql:",
        "review_queue:",
        "review_queue:",
    ]
    assert "aiflow review list" in out[1] and "(12 rows)" in out[1]
    assert "--route legal" in out[1] and "(2 rows)" in out[1]
    assert "page queue (12 rows)" in out[3]
    for line, store in zip(out[4:], ("sqlite", "postgresql"), strict=True):
        assert re.fullmatch(
            rf"review_queue: n=12 list_s=\d+\.\d{{3}} page_s=\d+\.\d{{3}} store={store}", line
        ), line
