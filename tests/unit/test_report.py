"""Summary tables and the metrics figure."""

from __future__ import annotations

import subprocess
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from sepflow.report.plots import plot_metrics
from sepflow.report.tables import summarize, with_gains, write_tables

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _frame(pesq: list[float], seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = len(pesq)
    si_snr_noisy = rng.normal(5.0, 3.0, n)
    si_snr = si_snr_noisy + rng.normal(8.0, 2.0, n)
    return pd.DataFrame(
        {
            "id": [f"item_{k}" for k in range(n)],
            "pesq": pesq,
            "stoi": rng.uniform(0.8, 0.95, n),
            "si_snr": si_snr,
            "si_snr_noisy": si_snr_noisy,
            "si_snr_i": si_snr - si_snr_noisy,
        }
    )


@pytest.fixture()
def frames() -> dict[tuple[str, str], pd.DataFrame]:
    return {
        ("noisy", "demo_test"): _frame([1.0, 2.0, 3.0, 4.0], seed=0),
        ("spec_unet", "demo_test"): _frame([2.5, np.nan, 3.0, np.nan, 2.0], seed=1),
        ("spec_unet", "reverb_test"): _frame([2.2, 2.4, 2.6], seed=2),
    }


def test_summary_has_one_row_per_experiment_and_test_set_in_order(frames):
    summary = summarize(frames)
    assert list(zip(summary["experiment"], summary["testset"])) == list(frames)
    assert summary["n"].tolist() == [4, 5, 3]
    for metric in ("pesq", "stoi", "si_snr", "si_snr_noisy", "si_snr_i"):
        assert {f"{metric}_mean", f"{metric}_ci95", f"{metric}_failed"} <= set(summary.columns)


def test_summary_mean_and_ci_use_student_t(frames):
    row = summarize(frames).iloc[0]
    # mean 2.5, sample std 1.2910, t(0.975, 3) = 3.1824: half-width 3.1824 * 1.2910 / 2
    assert row["pesq_mean"] == pytest.approx(2.5)
    assert row["pesq_ci95"] == pytest.approx(2.0543, abs=1e-4)


def test_summary_counts_failed_items_instead_of_hiding_them(frames):
    summary = summarize(frames)
    assert summary["pesq_failed"].tolist() == [0, 2, 0]
    assert summary["stoi_failed"].tolist() == [0, 0, 0]
    assert summary.loc[1, "pesq_mean"] == pytest.approx(2.5)


def test_write_tables_gives_csv_and_readable_markdown(tmp_path, frames):
    summary = summarize(frames)
    csv_path, md_path = write_tables(summary, tmp_path / "report")
    assert csv_path.name == "summary.csv" and md_path.name == "summary.md"
    pd.testing.assert_frame_equal(pd.read_csv(csv_path), summary, check_dtype=False)

    markdown = md_path.read_text()
    for experiment, testset in frames:
        assert experiment in markdown and testset in markdown
    assert "| PESQ" in markdown and "SI-SNRi (dB)" in markdown
    assert "2.500 ± 2.054" in markdown  # PESQ to 3 decimals
    assert "(2 failed)" in markdown
    si_snr_i = summary.loc[0, "si_snr_i_mean"]
    assert f"{si_snr_i:.2f} ± " in markdown  # dB to 2 decimals


def test_plot_is_a_valid_png(tmp_path, frames):
    path = plot_metrics(frames, tmp_path / "plots" / "metrics.png")
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = imread(path)
    assert image.shape[0] > 300 and image.shape[1] > 300


def test_plot_leaves_out_metrics_no_frame_has(tmp_path):
    music = {("unet1d", "musdb_test"): pd.DataFrame({"id": ["a", "b"], "sdr": [4.0, 6.0]})}
    assert plot_metrics(music, tmp_path / "music.png", metrics=("sdr", "pesq")).is_file()
    with pytest.raises(ValueError, match="none of the requested metrics"):
        plot_metrics(music, tmp_path / "none.png")


def test_reasons_column_is_not_a_metric():
    """An all-empty reasons column reads back from CSV as NaN floats; it is not scored."""
    frame = pd.DataFrame({"id": ["a", "b"], "pesq_wb": [2.0, 3.0], "reasons": [np.nan, np.nan]})
    summary = summarize({("model", "demo/test"): frame})
    assert not any(c.startswith("reasons") for c in summary.columns)


def test_markdown_per_test_set_has_model_facts_and_only_its_metrics(tmp_path, frames):
    from sepflow.report.build import with_model_facts
    from sepflow.report.tables import by_testset, to_markdown

    summary = summarize(
        {
            **frames,
            ("unet1d", "musdb/test"): pd.DataFrame(
                {"id": ["t1", "t1", "t2", "t2"], "source": ["vocals", "drums"] * 2, "sdr": [4.0, 6.0, 5.0, 7.0]}
            ),
        }
    )
    summary = with_model_facts(
        summary, {"spec_unet": {"parameters": 1_234_567, "rtf": 0.0123}, "unet1d": {"parameters": 2_000, "rtf": 0.5}}
    )
    assert summary["parameters"].isna().tolist() == [True, False, False, False, False]
    parts = dict(by_testset(summary))
    speech = to_markdown(parts["demo_test"])
    assert "1.23 M" in speech and "0.0123" in speech and "SDR" not in speech
    music = to_markdown(parts["musdb/test"])
    assert "| vocals" in music and "| 4.50 " in music and "| 6.50 " in music  # median over tracks, dB to 2 decimals
    assert "PESQ" not in music and "Median over tracks." in music
    assert "source" not in parts["demo_test"] and "source" in parts["musdb/test"]


def test_bars_of_a_speech_set_reported_beside_music_are_drawn(tmp_path, frames):
    """The speech part of a summary that also has music rows once kept an empty source
    column, and its bar panels came out blank."""
    from sepflow.report.plots import plot_bars
    from sepflow.report.tables import by_testset

    music = pd.DataFrame({"id": ["t1", "t1"], "source": ["vocals", "drums"], "sdr": [4.0, 6.0]})
    parts = dict(by_testset(summarize({**frames, ("unet1d", "musdb/test"): music})))
    image = imread(plot_bars(parts["demo_test"], ["pesq"], tmp_path / "bars.png"))[..., :3]
    first_bar = np.array(matplotlib.colormaps["tab10"](0)[:3])  # the first experiment's colour
    assert (np.abs(image - first_bar).max(axis=-1) < 0.02).sum() > 500


def test_bars_training_and_spectrogram_figures_are_pngs(tmp_path, frames):
    from sepflow.report.plots import plot_bars, plot_spectrograms, plot_training

    summary = summarize(frames)
    assert imread(plot_bars(summary, ["pesq", "si_snr_i"], tmp_path / "bars.png")).shape[1] > 400
    history = pd.DataFrame(
        {
            "step": [3, 6],
            "train_loss": [0.5, 0.4],
            "valid_loss": [0.6, 0.5],
            "valid_si_snr": [1.0, 2.0],
            "lr": [1e-3, 1e-3],
            "seconds": [1.0, 2.0],
        }
    )
    assert plot_training({"tiny": history}, tmp_path / "curves.png").read_bytes()[:8] == PNG_SIGNATURE
    gan = history.drop(columns="valid_loss").assign(valid_pesq=[1.1, 1.3])  # a step that validates with PESQ
    one, both = (
        imread(plot_training(h, tmp_path / f"{len(h)}.png")) for h in ({"tiny": history}, {"tiny": history, "gan": gan})
    )
    assert both.shape[1] == one.shape[1] * 3 // 2  # a third panel: validation PESQ
    rng = np.random.default_rng(0)
    signals = [(name, rng.standard_normal((1, 8000)).astype(np.float32)) for name in ("mixture", "reference", "model")]
    image = imread(plot_spectrograms([("item", signals), ("other item", signals)], 16000, tmp_path / "spec.png"))
    assert image.shape[0] > 300 and image[..., :3].std() > 0.05


def test_wav_uri_round_trips():
    import base64
    import io

    import soundfile as sf

    from sepflow.report.html import wav_uri

    audio = (0.5 * np.sin(np.linspace(0, 100, 1600)))[None].astype(np.float32)
    uri = wav_uri(audio, 16000)
    assert uri.startswith("data:audio/wav;base64,")
    decoded, rate = sf.read(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert rate == 16000 and np.abs(decoded - audio[0]).max() < 1e-4


def test_model_facts_count_parameters_and_measure_rtf(tmp_path):
    import torch

    from sepflow.infer.speed import checkpoint_facts
    from sepflow.models import build_model, count_parameters
    from sepflow.models.checkpoint import atomic_save, model_checkpoint

    class Speech:
        sample_rate, task, sources, channels = 16000, "speech", ("speech",), 1

    model = build_model("gatewave", hidden=8, depth=2)
    path = atomic_save(model_checkpoint("gatewave", {"hidden": 8, "depth": 2}, Speech, model), tmp_path / "m.pt")
    torch.set_num_threads(2)  # measured at one thread, then given back
    facts = checkpoint_facts(path)
    assert facts["parameters"] == count_parameters(model) == sum(p.numel() for p in model.parameters())
    assert 0 < facts["rtf"] < 1
    assert torch.get_num_threads() == 2


def test_git_commit_of_this_checkout():
    from sepflow.report.provenance import git_commit

    repo = Path(__file__).resolve().parents[2]
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert git_commit().split("+")[0] == head


def test_gains_are_paired_differences_to_the_input_row_item_by_item():
    noisy = pd.DataFrame({"id": ["a", "b", "c"], "pesq_wb": [1.0, 2.0, 3.0], "stoi": [0.5, 0.6, 0.7]})
    # Rows in another order and one failed item: gains follow the ids, the failure stays NaN.
    model = pd.DataFrame({"id": ["c", "a", "b"], "pesq_wb": [3.5, 1.5, np.nan], "stoi": [0.71, 0.52, 0.6]})
    frames = with_gains({("noisy", "t"): noisy, ("model", "t"): model}, {"t": "noisy"})
    gains = frames[("model", "t")]
    assert list(gains.columns) == ["id", "pesq_wb", "pesq_wb_gain", "stoi", "stoi_gain"]
    assert gains["pesq_wb_gain"].tolist()[:2] == [0.5, 0.5] and np.isnan(gains["pesq_wb_gain"].iloc[2])
    assert gains["stoi_gain"].tolist() == pytest.approx([0.01, 0.02, 0.0])
    row = summarize(frames).iloc[1]
    assert row["pesq_wb_gain_mean"] == pytest.approx(0.5) and row["pesq_wb_gain_failed"] == 1
    assert summarize(frames).iloc[0]["stoi_gain_mean"] == 0.0  # the input against itself


def test_a_gain_interval_excludes_zero_where_the_means_intervals_overlap():
    rng = np.random.default_rng(0)
    base = rng.uniform(1.0, 3.0, 30)  # items differ a lot; the model adds 0.1 to each, +-0.02
    ids = [f"i{k}" for k in range(30)]
    frames = {
        ("noisy", "t"): pd.DataFrame({"id": ids, "pesq_wb": base}),
        ("model", "t"): pd.DataFrame({"id": ids, "pesq_wb": base + 0.1 + rng.normal(0, 0.02, 30)}),
    }
    noisy, model = summarize(with_gains(frames, {"t": "noisy"})).to_dict("records")
    assert model["pesq_wb_mean"] - model["pesq_wb_ci95"] < noisy["pesq_wb_mean"] + noisy["pesq_wb_ci95"]
    assert model["pesq_wb_gain_mean"] - model["pesq_wb_gain_ci95"] > 0


def test_gains_need_every_item_in_the_input_row_and_an_input_to_compare_with():
    noisy = pd.DataFrame({"id": ["a"], "pesq_wb": [1.0]})
    model = pd.DataFrame({"id": ["a", "b"], "pesq_wb": [1.5, 2.0]})
    with pytest.raises(ValueError, match=r"model on t has items its input row lacks: \['b'\]"):
        with_gains({("noisy", "t"): noisy, ("model", "t"): model}, {"t": "noisy"})
    assert "pesq_wb_gain" not in with_gains({("model", "t"): model}, {})[("model", "t")]


# --- composite definitions, labels and gains by input SNR -----------------------------------------


def _speech_items(seed: int, gain_at_0_db: float, slope: float, n: int = 24) -> pd.DataFrame:
    """Per-item rows whose SI-SNRi and PESQ gain fall by `slope` per dB of input SI-SNR."""
    rng = np.random.default_rng(0)  # the same items (inputs) for every experiment
    si_snr_input = rng.uniform(-5.0, 10.0, n)
    noise = np.random.default_rng(seed).normal(0.0, 0.2, n)
    si_snr_i = gain_at_0_db - slope * si_snr_input + noise
    pesq = 1.5 + 0.1 * si_snr_input
    return pd.DataFrame(
        {
            "id": [f"item_{k}" for k in range(n)],
            "pesq_wb": pesq + (gain_at_0_db - slope * si_snr_input) / 10,
            "stoi": np.full(n, 0.8),
            "si_snr": si_snr_input + si_snr_i,
            "si_snr_input": si_snr_input,
            "si_snr_i": si_snr_i,
            **{f"{m}_loizou": np.full(n, 2.0) for m in ("csig", "cbak", "covl")},
            **{f"{m}_cmgan": np.full(n, 2.1) for m in ("csig", "cbak", "covl")},
        }
    )


def test_a_table_shows_the_chosen_composite_definition_and_names_it():
    from sepflow.report.tables import readable_table

    summary = summarize({("model", "demo/test"): _speech_items(1, 5.0, 0.3)})
    tables = {d: readable_table(summary, composite=d)[0] for d in ("cmgan", "loizou")}
    assert {"CSIG (CMGAN)", "CBAK (CMGAN)", "COVL (CMGAN)"} <= set(tables["cmgan"].columns)
    assert not any("composite.m" in c for c in tables["cmgan"].columns)
    assert tables["loizou"]["CSIG (composite.m)"].tolist() == ["2.000 ± 0.000"]
    assert tables["cmgan"]["CSIG (CMGAN)"].tolist() == ["2.100 ± 0.000"]
    assert {"csig_loizou_mean", "csig_cmgan_mean"} <= set(summary.columns)  # the full summary keeps both


def test_an_unknown_composite_definition_is_one_line_naming_the_key():
    from sepflow.errors import SepflowError
    from sepflow.report.tables import readable_table

    summary = summarize({("model", "demo/test"): _speech_items(1, 5.0, 0.3)})
    with pytest.raises(SepflowError, match=r"unknown composite definition 'matlab' \(metrics.composite\)"):
        readable_table(summary, composite="matlab")


def test_the_gain_by_snr_figure_has_one_line_per_experiment_through_bin_means():
    from sepflow.report.plots import GAIN_BINS, gain_by_snr_figure

    models = {"helps noisy input": _speech_items(1, 5.0, 0.6), "flat": _speech_items(2, 2.0, 0.0)}
    noisy = _speech_items(0, 0.0, 0.0).assign(pesq_wb=lambda f: 1.5 + 0.1 * f["si_snr_input"])
    gains = with_gains({("noisy", "t"): noisy, **{(name, "t"): f for name, f in models.items()}}, {"t": "noisy"})
    frames = {name: gains[(name, "t")] for name in models}
    fig = gain_by_snr_figure(frames)
    assert [ax.get_title() for ax in fig.axes] == ["SI-SNRi (dB)", "PESQ wb gain"]
    for ax in fig.axes:
        lines = {line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")}
        assert list(lines) == list(frames)
        falling, flat = (lines[name].get_ydata() for name in frames)
        assert len(falling) == len(flat) == GAIN_BINS  # 24 items: 5 bins of about 5
        assert np.all(np.diff(falling) < 0) and np.ptp(flat) < 0.5 * np.ptp(falling)
        assert len(ax.collections) == 2  # each experiment's items as points
    si_snr_i = {line.get_label(): line for line in fig.axes[0].get_lines()}["helps noisy input"]
    x, y = si_snr_i.get_data()
    items = frames["helps noisy input"]
    first = items["si_snr_input"] <= np.quantile(items["si_snr_input"], 0.2)
    assert (x[0], y[0]) == pytest.approx((items["si_snr_input"][first].mean(), items["si_snr_i"][first].mean()))


def test_the_report_shows_labels_and_a_gain_by_snr_plot_per_speech_test_set(tmp_path):
    from sepflow.report.build import build_report

    csvs = {}
    for name, frame in {
        "noisy": _speech_items(0, 0.0, 0.0).assign(si_snr_i=0.0),
        "semamba": _speech_items(1, 5.0, 0.6),
        "demucs": _speech_items(2, 3.0, 0.1),
    }.items():
        csvs[(name, "demo/test")] = tmp_path / f"{name}.csv"
        frame.to_csv(csvs[(name, "demo/test")], index=False)
    labels = {"semamba": "semamba (8 features, 1 block)"}
    summary = build_report(csvs, tmp_path / "report", inputs={"demo/test": "noisy"}, composite="loizou", labels=labels)
    assert summary["experiment"].tolist() == ["noisy", "semamba", "demucs"]  # CSVs keep the names
    markdown = (tmp_path / "report/summary.md").read_text()
    assert "| semamba (8 features, 1 block) |" in markdown and "| demucs " in markdown
    assert "CSIG (composite.m)" in markdown and "CMGAN" not in markdown
    plot = tmp_path / "report/plots/gain_by_snr_demo_test.png"
    image = imread(plot)[..., :3]
    pixels = [
        (np.abs(image - np.array(matplotlib.colormaps["tab10"](e)[:3])).max(axis=-1) < 0.02).sum() for e in range(3)
    ]
    assert pixels[0] == 0 and min(pixels[1:]) > 200  # no line for the input; the models in their bars' colours
    page = (tmp_path / "report/index.html").read_text()
    assert "Gain over the input by the input&#x27;s SI-SNR" in page and "<td>semamba (8 features, 1 block)</td>" in page


def test_two_experiments_with_one_label_are_refused(tmp_path):
    from sepflow.errors import SepflowError
    from sepflow.report.build import build_report

    csvs = {}
    for name in ("a", "b"):
        csvs[(name, "t")] = tmp_path / f"{name}.csv"
        _speech_items(1, 1.0, 0.0).to_csv(csvs[(name, "t")], index=False)
    with pytest.raises(SepflowError, match="experiments a and b have the same label 'same'"):
        build_report(csvs, tmp_path / "report", labels={"a": "same", "b": "same"})
