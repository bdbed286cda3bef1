"""The plumbing of the losses benchmark's fresh-process rounds (``--rounds``).

Speed is never asserted here: these tests check that each round reports a time, a floor and
a core count for every loss, that the medians are taken over the rounds, which rounds count
as having had their cores, and that the command line refuses rounds where they do not
apply.
"""
import statistics

import pytest

from fastnn import cli
from fastnn._bench import _timing as timing
from fastnn._bench import losses as bench_losses
from fastnn._core._openmp import core_probe


def test_one_round_in_a_fresh_process_times_every_loss(monkeypatch):
    rounds_seen = []
    real_median = statistics.median

    def recording_median(values):
        values = list(values)
        rounds_seen.append(len(values))
        return real_median(values)

    monkeypatch.setattr(bench_losses.statistics, "median", recording_median)
    times, one_thread = bench_losses.time_fastnn_in_fresh_processes(1000, "float32", 1,
                                                                    rounds=2)
    assert len(one_thread) == 2 and all(t > 0 for t in one_thread)
    assert sorted(times) == sorted(name for name, _, _ in bench_losses.CASES)
    for name, (t_fastnn, floor, ratio, cores, pairs) in times.items():
        assert t_fastnn > 0 and floor > 0 and ratio > 0 and cores > 0, name
        assert len(pairs) == 2 and all(r > 0 and c > 0 for r, c in pairs), name
        assert ratio == real_median([r for r, _ in pairs]), name
    # four medians per loss (time, floor, ratio, cores), each over both rounds
    assert rounds_seen == [2] * (4 * len(bench_losses.CASES))


@pytest.mark.parametrize("argv, match", [
    (["bench", "losses", "--rounds", "0"], "--rounds must be at least 1, got 0"),
    (["bench", "activations", "--rounds", "3"], "--rounds applies to the losses benchmark"),
])
def test_rounds_are_refused_where_they_do_not_apply(argv, match, capsys):
    with pytest.raises(SystemExit) as raised:
        cli.main(argv)
    assert raised.value.code == 2
    assert match in capsys.readouterr().err


def test_full_core_ratio_takes_the_rounds_that_had_their_cores():
    # (ratio, cores) of five rounds on 2 threads; FULL_CORES = 0.9 asks for 1.8 cores
    pairs = [(1.9, 1.0), (1.4, 1.95), (1.6, 1.8), (2.5, 1.79), (1.2, 2.3)]
    assert bench_losses.full_core_ratio(pairs, 2) == (1.4, 3)
    assert bench_losses.full_core_ratio(pairs[:1], 2) == (None, 0)
    assert bench_losses.full_core_ratio([(1.3, 0.95)], 1) == (1.3, 1)


def test_core_probe_times_its_work_and_refuses_bad_arguments():
    assert core_probe(1000, 1) > 0
    assert core_probe(1000, 2) > 0
    with pytest.raises(ValueError, match="n_iterations >= 1 and n_threads >= 1, got 0 and 1"):
        core_probe(0, 1)
    with pytest.raises(ValueError, match="got 10 and 0"):
        core_probe(10, 0)


def test_core_meter_counts_cores_against_its_fastest_one_thread_time(monkeypatch):
    # a machine whose one-thread probe takes 1.0, then 0.5 (its best), then 0.8 seconds
    one_thread = iter([1.0, 0.5, 0.8])
    monkeypatch.setattr(timing, "core_probe",
                        lambda n, threads: next(one_thread) if threads == 1 else 0.75)
    meter = timing.CoreMeter(2, repeat=1)
    assert meter.sample() == 0.75 and meter.one_thread == 1.0
    meter.sample()
    meter.sample()
    assert meter.one_thread == 0.5
    assert meter.cores(0.5) == 2.0  # each thread as fast as one alone: two cores
    assert meter.cores(1.0) == 1.0  # twice as long: the threads shared one core
    # 1000 iterations of 12 multiply-adds in 2 microseconds: 6 per nanosecond
    monkeypatch.setattr(timing.CoreMeter, "ITERATIONS", 1000)
    monkeypatch.setattr(timing, "probe_chains", 12)
    assert timing.CoreMeter.speed(2e-6) == pytest.approx(6.0)
