"""Paired comparison of two evaluations (`paired.py`, `python -m r1recipes.compare`): McNemar's exact p-values
worked by hand, Newcombe's interval against a published example, the bootstrap and sign-flip test on cases with
a known answer, pairing by problem id, refusals, and the command on folders the real writers and evaluate made."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from r1recipes import RecipeError, evaluate
from r1recipes.evaluation.compare import main as compare_main
from r1recipes.evaluation.paired import compare, compare_problems, mcnemar_exact, newcombe_interval, read_evaluation
from r1recipes.evaluation.results import ResultsDir


def write_evaluation(folder: Path, correct: dict[str, list[list[bool]]], ids: list[str] | None = None) -> Path:
    """An evaluation folder as `python -m r1recipes.evaluate` leaves it, through its own writers: per benchmark,
    each problem's samples' correctness; problem i has id `ids[i]` (default str(i)) and gold answer `g<id>`."""
    out = ResultsDir(str(folder))
    k = len(next(iter(correct.values()))[0])
    header = {"model": str(folder), "config": {"num_samples": k, "temperature": 0.6, "max_new_tokens": 8}}
    out.prepare(header, start_over=False)
    for benchmark, problems in correct.items():
        names = ids or [str(i) for i in range(len(problems))]
        rows = [
            {"benchmark": benchmark, "id": names[p], "position": p, "sample": j, "prompt": "?", "completion": "",
             "answer": None, "gold": f"g{names[p]}", "score": float(right), "correct": right, "tokens": 3,
             "truncated": False}
            for p, samples in enumerate(problems)
            for j, right in enumerate(samples)
        ]  # fmt: skip
        out.write_shard(benchmark, 0, 1, rows)
        out.merge(benchmark, 1, evaluate.benchmark_metrics)
    return folder


def one_sample(pattern: str) -> list[list[bool]]:
    """'1100' -> four problems of one sample each, the first two right."""
    return [[c == "1"] for c in pattern]


def test_mcnemar_exact_p_values_worked_by_hand():
    # p = 2 * P(X <= min(b, c)) for X ~ Binomial(b + c, 1/2), capped at 1
    assert mcnemar_exact(0, 5) == 2 * math.comb(5, 0) / 2**5 == 0.0625
    assert mcnemar_exact(5, 0) == 0.0625  # two-sided: the same either way
    assert mcnemar_exact(1, 9) == 2 * (math.comb(10, 0) + math.comb(10, 1)) / 2**10 == 0.021484375
    assert mcnemar_exact(2, 3) == 1.0  # 2 * (1 + 5 + 10) / 32 = 1
    assert mcnemar_exact(1, 3) == 2 * (1 + 4) / 16 == 0.625
    assert mcnemar_exact(4, 4) == 1.0 and mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(6, 16) == 2 * sum(math.comb(22, i) for i in range(7)) / 2**22 == 220112 / 4194304


def test_newcombe_interval_matches_the_published_example():
    # Fagerland, Lydersen & Laake (2017), ch. 8 (Cavo et al. 2012): 59 both, 6 only first, 16 only second, 80
    # neither; first minus second -0.0621 (95% CI -0.1186 to -0.0046), so second minus first is its mirror
    low, high = newcombe_interval(59, 6, 16, 80)
    assert (round(low, 4), round(high, 4)) == (0.0046, 0.1186)
    assert mcnemar_exact(6, 16) == pytest.approx(0.0525, abs=5e-5)  # the exact test is the more conservative
    # two models never right on n problems: +-(the Wilson upper bound of 0 of n) = z^2 / (n + z^2)
    z2 = 1.959964**2
    assert newcombe_interval(0, 0, 0, 48) == pytest.approx((-z2 / (48 + z2), z2 / (48 + z2)))


def test_newcombe_interval_holds_the_estimate_inside_minus_one_to_one_for_every_small_table():
    for n in range(1, 13):
        for both in range(n + 1):
            for only_a in range(n + 1 - both):
                for only_b in range(n + 1 - both - only_a):
                    low, high = newcombe_interval(both, only_a, only_b, n - both - only_a - only_b)
                    assert -1 <= low < high <= 1 and low <= (only_b - only_a) / n <= high


def test_one_sample_each_is_mcnemar_with_newcombes_interval():
    a, b = one_sample("1110" + "0" * 6), one_sample("1101" + "1" * 4 + "00")  # 2 both, 1 lost, 5 gained, 2 neither
    result = compare_problems("x", a, b)
    assert (result.test, result.interval_method, result.lost, result.gained) == ("McNemar exact", "Newcombe", 1, 5)
    assert (result.problems, result.before, result.after, result.difference) == (10, 0.3, 0.7, pytest.approx(0.4))
    assert result.p_value == 2 * (1 + 6) / 64 and result.interval == newcombe_interval(2, 1, 5, 2)


def test_the_bootstrap_sees_b_right_wherever_a_was_wrong():
    a = [[True] * 4] * 10 + [[False] * 4] * 10
    b = [[True] * 4] * 20
    result = compare_problems("x", a, b, seed=3)
    assert (result.test, result.interval_method) == ("sign-flip permutation", "bootstrap")
    assert result.difference == 0.5 and (result.lost, result.gained) == (0, 10)
    assert 0.2 < result.interval[0] < 0.5 < result.interval[1] < 0.8
    # ten differences of 1: a flip keeps |mean| at 0.5 with probability 2 / 2**10, about 20 of 10,000
    assert result.p_value < 0.005
    assert compare_problems("x", a, b, seed=3) == result  # the seed fixes the resamples


def test_identical_models_differ_by_nothing():
    a = [[True, False, True], [False, False, True], [True, True, True]]
    result = compare_problems("x", a, [list(samples) for samples in a])
    assert (result.difference, result.interval, result.p_value) == (0.0, (0.0, 0.0), 1.0)
    one = compare_problems("x", one_sample("1010"), one_sample("1010"))
    assert one.p_value == 1.0 and one.interval[0] < 0 < one.interval[1]  # Newcombe: never of zero width


def test_k_may_differ_between_the_two():
    result = compare_problems("x", one_sample("1100"), [[True, True], [False, True], [True, True], [False, False]])
    assert (result.before, result.after, result.lost, result.gained) == (0.5, 0.625, 1, 1)
    assert result.test == "sign-flip permutation" and result.interval[0] <= 0.125 <= result.interval[1]


def test_evaluations_pair_only_their_common_problems(tmp_path):
    a = write_evaluation(tmp_path / "a", {"sums": one_sample("0" * 8), "other": one_sample("1")})
    b = write_evaluation(tmp_path / "b", {"sums": one_sample("111110")}, ids=["5", "4", "3", "2", "1", "9"])
    [result] = compare(a, b)
    assert (result.benchmark, result.problems, result.only_a, result.only_b) == ("sums", 5, 3, 1)
    assert (result.before, result.after, result.gained, result.p_value) == (0.0, 1.0, 5, 0.0625)
    assert read_evaluation(a).problems["sums"]["7"] == ("g7", [False])


def test_nothing_to_pair_is_refused_in_one_line(tmp_path):
    a = write_evaluation(tmp_path / "a", {"sums": one_sample("01")})
    with pytest.raises(RecipeError, match="evaluated no benchmark in common"):
        compare(a, write_evaluation(tmp_path / "b", {"other": one_sample("01")}))
    with pytest.raises(RecipeError, match="sums: no problem id in both"):
        compare(a, write_evaluation(tmp_path / "c", {"sums": one_sample("01")}, ids=["x", "y"]))
    d = write_evaluation(tmp_path / "d", {"sums": one_sample("01")})
    (d / "samples.jsonl").write_text((d / "samples.jsonl").read_text().replace('"g1"', '"g2"'))
    with pytest.raises(RecipeError, match="sums: problem 1 has gold answer 'g1' in .* and 'g2' in .*one id"):
        compare(a, d)
    with pytest.raises(RecipeError, match=r"has no results of gsm8k \(it has: sums\)"):
        compare(a, a, ["gsm8k"])
    with pytest.raises(RecipeError, match="no results.json, not an evaluation folder"):
        compare(a, tmp_path)
    (a / "samples.jsonl").unlink()
    with pytest.raises(RecipeError, match="samples.jsonl is missing"):
        read_evaluation(a)


def test_only_finished_benchmarks_are_read(tmp_path):
    a = write_evaluation(tmp_path / "a", {"sums": one_sample("01")})
    with open(a / "samples.jsonl", "a") as handle:  # a merge killed before results.json was written
        handle.write(json.dumps({"benchmark": "stray", "id": "0", "gold": "1", "correct": True}) + "\n")
    assert list(read_evaluation(a).problems) == ["sums"]


def test_the_command_on_two_evaluations(tmp_path, capsys):
    a = write_evaluation(tmp_path / "base", {"sums": one_sample("1" * 2 + "0" * 8), "other": one_sample("10")})
    b = write_evaluation(tmp_path / "stage2", {"sums": one_sample("1" * 2 + "1" * 7 + "0"), "other": one_sample("11")})
    compare_main([str(a), str(b), "--benchmarks", "sums"])
    out = capsys.readouterr().out.splitlines()
    low, high = newcombe_interval(2, 0, 7, 1)
    assert out[:2] == [f"A (before): {a}", f"B (after):  {b}"]
    cell = f"+70.0 [{100 * low:.1f}, {100 * high:.1f}] p=0.0156"  # p = 2 / 2**7
    assert out[4].split() == ["sums", "10", "20.0%", "90.0%", *cell.split(), "McNemar", "exact,", "Newcombe",
                              "interval", "(0", "lost,", "7", "gained)"]  # fmt: skip
    compare_main([str(a), str(b), "--json"])
    found = {c["benchmark"]: c for c in json.loads(capsys.readouterr().out)}
    assert found["sums"]["p_value"] == 2 / 2**7 and found["other"]["gained"] == 1

    result = subprocess.run([sys.executable, "-m", "r1recipes.compare", str(a), str(tmp_path)], capture_output=True,
                            text=True)  # fmt: skip
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [f"error: {tmp_path}: no results.json, not an evaluation folder "
                                          "(python -m r1recipes.evaluate)"]  # fmt: skip


def test_the_command_on_what_evaluate_wrote(tmp_path, tiny_model, capsys):
    """The real evaluation of the tiny model on 3 and on 2 countdown problems: the first 2 pair."""
    for name, problems in [("a", "3"), ("b", "2")]:
        argv = ["--model", str(tiny_model), "--output", str(tmp_path / name), "--benchmarks", "countdown",
                "--max_problems", problems, "--num_samples", "2", "--max_new_tokens", "4"]  # fmt: skip
        evaluate.main(*evaluate.make_parser().parse(argv))
    capsys.readouterr()
    [result] = compare_main([str(tmp_path / "a"), str(tmp_path / "b")])
    assert (result.problems, result.only_a, result.only_b, result.test) == (2, 1, 0, "sign-flip permutation")
    samples = [json.loads(line) for line in (tmp_path / "b" / "samples.jsonl").read_text().splitlines()]
    assert result.after == sum(s["correct"] for s in samples) / 4
    assert "countdown" in capsys.readouterr().out
