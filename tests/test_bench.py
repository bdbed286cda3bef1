"""The plumbing of the losses benchmark's fresh-process rounds (``--rounds``).

Speed is never asserted here: these tests check that each round reports a time and a floor
for every loss, that the medians are taken over the rounds, and that the command line
refuses rounds where they do not apply.
"""
import statistics

import pytest

from fastnn import cli
from fastnn._bench import losses as bench_losses


def test_one_round_in_a_fresh_process_times_every_loss(monkeypatch):
    rounds_seen = []
    real_median = statistics.median

    def recording_median(values):
        values = list(values)
        rounds_seen.append(len(values))
        return real_median(values)

    monkeypatch.setattr(bench_losses.statistics, "median", recording_median)
    times = bench_losses.time_fastnn_in_fresh_processes(1000, "float32", 1, rounds=2)
    assert sorted(times) == sorted(name for name, _, _ in bench_losses.CASES)
    for name, (t_fastnn, floor, ratio) in times.items():
        assert t_fastnn > 0 and floor > 0 and ratio > 0, name
    # three medians per loss (time, floor, ratio), each over both rounds
    assert rounds_seen == [2] * (3 * len(bench_losses.CASES))


@pytest.mark.parametrize("argv, match", [
    (["bench", "losses", "--rounds", "0"], "--rounds must be at least 1, got 0"),
    (["bench", "activations", "--rounds", "3"], "--rounds applies to the losses benchmark"),
])
def test_rounds_are_refused_where_they_do_not_apply(argv, match, capsys):
    with pytest.raises(SystemExit) as raised:
        cli.main(argv)
    assert raised.value.code == 2
    assert match in capsys.readouterr().err
