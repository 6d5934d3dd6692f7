"""The swarm suite runs only when named (it needs molecule/site's swarm) and renders its results."""

from bench import swarm
from bench.__main__ import SUITES, select

SCHEDULE = {
    "image": "r:5000/aidock/rag@sha256:00",
    "summary_s": {
        key: {"median": m, "min": m, "max": m, "mean": m, "n": 1}
        for key, m in (
            ("docker_run", 4.0),
            ("docker_run_3", 6.0),
            ("replicas_1", 5.0),
            ("replicas_3", 9.0),
        )
    },
    "ratio_3_to_docker_run": 2.25,
    "ratio_3_to_docker_run_3": 1.5,
    "goal": 2.0,
    "goal_met": False,
}
THROUGHPUT = {
    "documents": 300,
    "cores": 2,
    "rows": [
        {
            "replicas": n,
            "concurrency": 2 * n,
            "ok": 300,
            "lost": 0,
            "duplicated": 0,
            "docs_per_s": dps,
            "docs_per_s_samples": [dps - 1, dps, dps + 2],
            "instance_start_s": 5.0,
            "replica_calls": [300 // n] * n,
            "efficiency": round(dps / (30.0 * n), 2),
        }
        for n, dps in ((1, 30.0), (2, 31.0), (4, 29.0))
    ],
}


def test_swarm_runs_only_when_named() -> None:
    assert swarm.SWARM in SUITES
    assert swarm.SWARM not in [suite for suite, _parts in select(None, None)]
    assert select("swarm", None) == [(swarm.SWARM, [swarm.SCHEDULE, swarm.THROUGHPUT])]


def test_schedule_report_says_whether_the_goal_holds() -> None:
    text = swarm.render_schedule(SCHEDULE)
    assert "NOT met" in text and "2.25" in text and "1.50x" in text
    # The breakdown: contention of three starts, the 1-replica overhead, the 3-replica one.
    assert "take 1.50x one (+2.00 s" in text
    assert "+1.00 s over one `docker run`" in text and "+3.00 s over three at once" in text
    assert swarm.render_schedule({**SCHEDULE, "goal_met": True}).count("NOT") == 0


def test_throughput_report_has_per_replica_efficiency() -> None:
    text = swarm.render_throughput(THROUGHPUT)
    assert "0.24x" in text  # 29 docs/s over 4 replicas of 30 each
    assert "29.0 (28, 29, 31)" in text  # the median and every round
    assert [row[0] for row in swarm._throughput_rows(THROUGHPUT)] == [
        "docs/s, 2 replicas",
        "docs/s, 4 replicas",
    ]
