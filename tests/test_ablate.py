"""minigan ablate: the variant plan, refused and failed variants, the written tables, resuming, the CLI.

The training is real (the synthetic dataset, 16x16 images, two steps); the evaluation is injected
(``FakeScores``) except in the CLI test, which scores with a small synthetic judge trained on the spot.
"""

import json
import math
import os

import numpy as np
import pytest
from click.testing import CliRunner

from minigan import ablate, data, evaluate, gan, judge
from minigan.cli import main
from minigan.errors import MiniganError
from minigan.gan import losses

TINY = {"dataset": "synthetic", "epochs": 1, "limit": 32, "batch_size": 16, "eval_samples": 20,
        "settings": {"nz": 8, "image_size": 16}}
FIDS = {"base": 40.0, "with-vbn": 35.5, "with-feature-matching": 52.25, "without-feature-matching": 41.0}


class FakeScores:
    """An injected evaluate(): checks it gets a trained run, returns fixed scores per folder."""

    def __init__(self, fail=(), interrupt=()):
        self.calls, self.fail, self.interrupt = [], fail, interrupt

    def __call__(self, run_dir, n, seed, dataset, data_dir=None, device="cpu", echo=None):
        folder = os.path.basename(run_dir)
        self.calls.append(folder)
        assert os.path.isfile(os.path.join(run_dir, "checkpoints", "last.npz"))
        if folder in self.interrupt:
            raise KeyboardInterrupt
        if folder in self.fail:
            raise MiniganError("the samples contain NaN or inf.")
        return {"fid": FIDS.get(folder, 60.0), "inception_score": 2.5, "classes_covered": 8,
                "top_class_share": 0.25, "label_accuracy": None, "class_histogram": [2] * 10, "n": n}


class CountingTrain:
    """gan.train, counting its calls by folder; can fail or be interrupted after a variant's training."""

    def __init__(self, fail=(), interrupt=()):
        self.calls, self.fail, self.interrupt = [], fail, interrupt

    def __call__(self, config, echo):
        folder = os.path.basename(config.run_dir)
        self.calls.append(folder)
        if folder in self.fail:
            raise MiniganError("training diverged: loss_D became nan at step 2.")
        trainer = gan.train(config, echo)
        if folder in self.interrupt:
            raise KeyboardInterrupt
        return trainer


def run(out, train=None, evaluate=None, **kw):
    lines = []
    result = ablate.ablate(**{**TINY, **kw}, out=str(out), echo=lines.append, train=train or CountingTrain(),
                           evaluate=evaluate or FakeScores())
    return result, lines


def names(rows):
    return [row.name for row in rows]


# -- the plan ---------------------------------------------------------------------------------------
def test_every_technique_is_added_once_and_a_base_technique_is_removed(tmp_path):
    base = ablate.base_config(["feature-matching"], dataset="synthetic")
    rows = ablate.plan(base, str(tmp_path))
    assert len(rows) == 1 + len(ablate.TECHNIQUES) and rows[0].name == "base" and rows[0].change == {}
    assert names(rows)[1:] == [("-" if t == "feature-matching" else "+") + t for t in ablate.TECHNIQUES]
    by_name = {row.name: row for row in rows}
    removed = by_name["-feature-matching"]
    assert removed.change == {"feature_matching": False} and removed.folder == "without-feature-matching"
    assert removed.config.run_dir == os.path.join(str(tmp_path), "without-feature-matching")
    mixture = by_name["+mixture"].config
    assert (mixture.latent, mixture.components, mixture.feature_matching) == ("mixture", 50, True)
    for row in rows[1:]:  # each variant differs from the base in its technique's fields only
        differ = {k for k, v in row.config.to_dict().items() if v != getattr(base, k) and k != "run_dir"}
        assert differ == set(ablate.TECHNIQUES[row.technique][1]), row.name


def test_variant_filter_keeps_the_given_order_once_each(tmp_path):
    rows = ablate.plan(gan.TrainConfig(dataset="synthetic"), str(tmp_path), ["vbn", "replay", "vbn"])
    assert names(rows) == ["base", "+vbn", "+replay"]
    assert rows[2].config.replay == 1280 and not rows[2].config.vbn


def test_loss_techniques_cover_every_other_loss_and_swap_the_base_loss(tmp_path):
    assert {n[5:] for n in ablate.TECHNIQUES if n.startswith("loss-")} == set(losses.LOSSES) - {"non-saturating"}
    base = ablate.base_config(loss="hinge", dataset="synthetic")
    rows = {row.name: row for row in ablate.plan(base, str(tmp_path), ["loss-hinge", "loss-minimax",
                                                                       "label-smoothing"])}
    assert rows["-loss-hinge"].config.loss == "non-saturating" and rows["+loss-minimax"].config.loss == "minimax"
    assert rows["-loss-hinge"].refused is None
    assert "--label-smoothing works with the BCE losses" in rows["+label-smoothing"].refused


@pytest.mark.parametrize("option", ["with_techniques", "variants"])
def test_unknown_technique_names_are_refused_with_the_known_ones(tmp_path, option):
    with pytest.raises(MiniganError, match="unknown technique 'dropout'.*label-smoothing, instance-noise"):
        run(tmp_path / "out", **{option: ["vbn", "dropout"]})
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kw, words", [
    ({"with_techniques": ["loss-hinge", "loss-minimax"]}, "--with loss-hinge and --with loss-minimax both set --loss"),
    ({"loss": "hinge", "with_techniques": ["loss-minimax"]}, "--loss hinge and --with loss-minimax both set --loss"),
    ({"loss": "hinge", "with_techniques": ["label-smoothing"]}, "base configuration cannot train: --label-smooth"),
    ({"dataset": "folder"}, r"scores every variant with the dataset's judge \(or its known modes\) and folder has neither"),
    ({"model": "vae"}, "unknown model 'vae'"),
    ({"eval_samples": 1}, "--eval-samples must be 2 or more"),
])
def test_contradictions_are_one_error_before_anything_is_written(tmp_path, kw, words):
    train = CountingTrain()
    with pytest.raises(MiniganError, match=words) as e:
        run(tmp_path / "out", train, **kw)
    assert str(e.value).count(". ") == 0 and train.calls == [] and not (tmp_path / "out").exists()


def test_the_same_technique_in_the_base_option_and_with_is_allowed():
    assert ablate.base_config(["loss-hinge"], loss="hinge").loss == "hinge"


# -- running ----------------------------------------------------------------------------------------
def test_a_refused_or_failed_variant_is_a_row_and_the_others_go_on(tmp_path):
    train = CountingTrain(fail=["with-replay"])
    result, lines = run(tmp_path, train, loss="hinge", variants=["label-smoothing", "replay", "vbn"])
    assert [r["status"] for r in result["rows"]] == ["done", "refused", "failed", "done"]
    assert train.calls == ["base", "with-replay", "with-vbn"]
    refused = result["rows"][1]
    assert refused["variant"] == "+label-smoothing" and "--loss hinge" in refused["reason"]
    table = {line.split()[0]: line.split(None, 1)[1] for line in ablate.format_table(result).splitlines()[2:6]}
    assert table["+label-smoothing"].startswith("refused: --label-smoothing works with the BCE losses")
    assert table["+replay"] == "failed: training diverged: loss_D became nan at step 2."
    assert table["+vbn"].split()[:2] == ["35.50", "-4.50"]
    assert any("refused:" in line for line in lines)


def test_a_failing_base_stops_the_ablation(tmp_path):
    with pytest.raises(MiniganError, match="training diverged"):
        run(tmp_path, CountingTrain(fail=["base"]), variants=["vbn"])
    with pytest.raises(MiniganError, match="NaN"):
        run(tmp_path / "b", evaluate=FakeScores(fail=["base"]), variants=["vbn"])


def test_table_markdown_and_json_hold_every_variant_base_first(tmp_path):
    result, lines = run(tmp_path, with_techniques=["feature-matching"], variants=["vbn", "feature-matching"])
    assert [r["variant"] for r in result["rows"]] == ["base", "+vbn", "-feature-matching"]
    assert [r["fid_vs_base"] for r in result["rows"]] == [0.0, -4.5, 1.0]
    for r in result["rows"]:  # s/step is the loop's own, from the run's log: below the wall time per step
        logged = json.loads((tmp_path / r["folder"] / "metrics.jsonl").read_text().splitlines()[-1])
        assert r["steps"] == logged["step"] == 2 and r["s_per_step"] == logged["s_per_step"]
        assert 0 < r["s_per_step"] < r["train_seconds"] / 2
    table = ablate.format_table(result).splitlines()
    assert table[0].split() == ["variant", "FID", "vs", "base", "IS", "classes", "top", "class", "train", "s/step"]
    assert table[2].split()[:5] == ["base", "40.00", "2.500", "8", "25.0%"]
    assert table[3].split()[:3] == ["+vbn", "35.50", "-4.50"] and table[4].split()[:3] == ["-feature-matching",
                                                                                          "41.00", "+1.00"]
    saved = json.loads((tmp_path / "ablation.json").read_text())
    assert saved["rows"] == json.loads(json.dumps(result["rows"])) and saved["base"]["feature_matching"] is True
    md = (tmp_path / "ablation.md").read_text()
    assert result["command"] in md and "--with feature-matching --variant vbn --variant feature-matching" in md
    assert "| `+vbn` | 35.50 | -4.50 |" in md and "(folder `without-feature-matching/`)" in md
    for folder in ("base", "with-vbn", "without-feature-matching"):
        assert json.loads((tmp_path / folder / "ablate.json").read_text())["status"] == "done"
    assert [line for line in lines if line.startswith("[")] == [
        "[1/3] base", "[2/3] +vbn (virtual batch norm in G)",
        "[3/3] -feature-matching (G matches the mean of D's features)"]


def test_a_second_run_trains_and_scores_nothing_already_finished(tmp_path):
    first, _ = run(tmp_path, variants=["vbn"])
    train, evaluate = CountingTrain(), FakeScores()
    again, lines = run(tmp_path, train, evaluate, variants=["vbn"])
    assert train.calls == [] and evaluate.calls == [] and again["rows"] == first["rows"]
    assert sum("finished earlier" in line for line in lines) == 2
    more, _ = run(tmp_path, train, evaluate, variants=["vbn", "feature-matching"])
    assert train.calls == ["with-feature-matching"] and evaluate.calls == ["with-feature-matching"]
    assert more["rows"][:2] == first["rows"]


def test_an_interrupted_training_starts_again_and_a_trained_variant_is_only_scored(tmp_path):
    with pytest.raises(KeyboardInterrupt):  # stopped after training +vbn, before it was recorded
        run(tmp_path, CountingTrain(interrupt=["with-vbn"]), variants=["vbn", "replay"])
    assert (tmp_path / "with-vbn" / "checkpoints" / "last.npz").is_file()
    assert not (tmp_path / "with-vbn" / "ablate.json").exists()
    with pytest.raises(KeyboardInterrupt):  # +vbn trains from scratch, then scoring +replay is stopped
        run(tmp_path, CountingTrain(), FakeScores(interrupt=["with-replay"]), variants=["vbn", "replay"])
    assert json.loads((tmp_path / "with-replay" / "ablate.json").read_text())["status"] == "trained"
    train, evaluate = CountingTrain(), FakeScores()
    result, _ = run(tmp_path, train, evaluate, variants=["vbn", "replay"])
    assert train.calls == [] and evaluate.calls == ["with-replay"]
    assert [r["status"] for r in result["rows"]] == ["done"] * 3


@pytest.mark.parametrize("stopped", ["base", "with-vbn"])
def test_an_unfinished_variant_restarts_from_scratch(tmp_path, stopped):
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, CountingTrain(interrupt=[stopped]), variants=["vbn"])
    assert json.loads((tmp_path / "ablation.json").read_text())["kind"] == "minigan ablation"
    train = CountingTrain()
    result, _ = run(tmp_path, train, variants=["vbn"])
    assert train.calls == ["base", "with-vbn"][["base", "with-vbn"].index(stopped):]
    metrics = (tmp_path / stopped / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in metrics] == [2]  # one fresh run, not one continued
    assert [r["status"] for r in result["rows"]] == ["done", "done"]


@pytest.mark.parametrize("setup, words", [
    (lambda out: (out / "notes.txt").write_text("mine"), "holds files but no ablation.json"),
    (lambda out: (out / "ablation.json").write_text("{}"), "is not a minigan ablation"),
])
def test_an_out_folder_of_something_else_is_refused(tmp_path, setup, words):
    out = tmp_path / "out"
    out.mkdir()
    setup(out)
    train = CountingTrain()
    with pytest.raises(MiniganError, match=words):
        run(out, train, variants=["vbn"])
    assert train.calls == [] and not (out / "base").exists()


def test_an_out_file_and_an_ablation_of_other_settings_are_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(MiniganError, match="is a file, not a folder"):
        run(tmp_path / "file", variants=["vbn"])
    run(tmp_path / "out", variants=["vbn"])
    train = CountingTrain()
    with pytest.raises(MiniganError, match=r"other settings \(--epochs 1 there, 2 here\)"):
        run(tmp_path / "out", train, epochs=2, variants=["vbn"])
    with pytest.raises(MiniganError, match=r"other settings \(--eval-samples 20 there, 30 here\)"):
        run(tmp_path / "out", train, eval_samples=30, variants=["vbn"])
    assert train.calls == []


def test_a_variant_folder_with_foreign_files_is_not_deleted(tmp_path):
    out = tmp_path / "abl"
    run(out, variants=["feature-matching"])
    (out / "with-vbn").mkdir()
    (out / "with-vbn" / "thesis.tex").write_text("keep me")
    with pytest.raises(MiniganError, match="holds thesis.tex, which no training run writes"):
        run(out, variants=["vbn"])
    assert (out / "with-vbn" / "thesis.tex").read_text() == "keep me"


# -- the command --------------------------------------------------------------------------------------
@pytest.fixture
def synthetic_judge(tmp_path, monkeypatch):
    """A small synthetic judge in a cache of its own, so that the CLI scores for real."""
    monkeypatch.setenv("MINIGAN_CACHE", str(tmp_path / "cache"))
    judge.train_judge("synthetic", epochs=3, width=8, batch_size=64, out_path=judge.judge_path("synthetic"))


def scored_by_hand(run_dir, n, seed):
    """The judge's scores of a run's samples, each formula written out here, apart from minigan.evaluate:
    the class histogram of the judge's argmax, classes with >= 1% of the images, IS = exp E KL(p(y|x) || p(y)),
    and the Frechet distance to the test features with tr((s1 s2)^(1/2)) from the eigenvalues of s1 s2."""
    images, _, _, _ = evaluate.images_for(str(run_dir), n, seed)
    scorer = judge.load_judge("synthetic", train_if_missing=False)
    assert images.shape[1:] == (scorer.config["channels"],) + (scorer.config["image_size"],) * 2  # no resize
    features, log_p = scorer.outputs(images)
    hist = np.bincount(log_p.argmax(axis=1), minlength=10)
    p = np.exp(log_p)
    inception = math.exp(np.mean(np.sum(p * (log_p - np.log(p.mean(axis=0))), axis=1)))
    test_features, _ = scorer.outputs(data.load_dataset("synthetic", split="test").images)
    (mu1, s1), (mu2, s2) = [(f.mean(axis=0), np.cov(f, rowvar=False)) for f in (features, test_features)]
    root_trace = np.sqrt(np.clip(np.linalg.eigvals(s1 @ s2).real, 0, None)).sum()
    fid = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * root_trace
    return {"class_histogram": hist.tolist(), "classes_covered": int(np.sum(hist >= max(1, n / 100))),
            "inception_score": inception, "fid": fid}


def test_cli_end_to_end_on_tiny_settings(tmp_path, synthetic_judge):
    out = tmp_path / "abl"
    args = ["ablate", "synthetic", "--epochs", "1", "--limit", "32", "--batch-size", "16", "--loss", "hinge",
            "--variant", "label-smoothing", "--variant", "vbn", "--eval-samples", "100", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    text = result.output
    assert "[1/3] base" in text and "[3/3] +vbn" in text and "+label-smoothing  refused: --label-smoothing" in text
    assert f"wrote {out}/ablation.md and {out}/ablation.json" in text
    saved = json.loads((out / "ablation.json").read_text())
    base, refused, vbn = saved["rows"]
    for row in (base, vbn):  # each row holds the scores of that variant's own samples, recomputed here
        m, want = row["metrics"], scored_by_hand(out / row["folder"], 100, saved["base"]["seed"])
        assert m["n"] == 100 and m["class_histogram"] == want["class_histogram"]
        assert m["classes_covered"] == want["classes_covered"]
        assert m["top_class_share"] == max(want["class_histogram"]) / 100
        assert m["inception_score"] == pytest.approx(want["inception_score"], rel=1e-6)
        assert m["fid"] == pytest.approx(want["fid"], rel=1e-3, abs=1e-3)
        line = next(line.split() for line in text.splitlines() if line.split()[:1] == [row["variant"]])
        assert line[1] == f"{m['fid']:.2f}" and f"{m['inception_score']:.3f}" in line
    assert (base["metrics"]["fid"], base["metrics"]["inception_score"]) != (vbn["metrics"]["fid"],
                                                                          vbn["metrics"]["inception_score"])
    assert vbn["fid_vs_base"] == pytest.approx(vbn["metrics"]["fid"] - base["metrics"]["fid"])
    assert refused["status"] == "refused"
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and again.output.count("finished earlier") == 2


def test_cli_help_lists_every_technique_with_its_settings_and_examples():
    result = CliRunner().invoke(main, ["ablate", "--help"], terminal_width=200)
    assert result.exit_code == 0 and "Examples:" in result.output
    assert "minigan ablate --with feature-matching" in result.output
    for name, (_, overrides) in ablate.TECHNIQUES.items():
        assert f"{name} " in result.output and ablate.settings_text(overrides) in result.output


def test_cli_mistake_is_one_line(tmp_path):
    result = CliRunner().invoke(main, ["ablate", "synthetic", "--variant", "dropout", "--out", str(tmp_path / "o")])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("Error: unknown technique 'dropout'")


def test_variants_train_with_the_epoch_end_class_check(monkeypatch):
    """By default each variant trains as `minigan train` does: with the judge's class check (and, for data
    of known modes, the mode check) after each epoch."""
    from minigan.evaluate.class_check import ClassCheck
    from minigan.evaluate.modes import ModeCheck

    seen = []
    monkeypatch.setattr(gan, "train", lambda config, echo, on_epoch_end=(): seen.append(list(on_epoch_end)))
    ablate.train_checked(gan.TrainConfig(dataset="synthetic"), print)
    assert len(seen) == 1 and [type(hook) for hook in seen[0]] == [ClassCheck, ModeCheck]
