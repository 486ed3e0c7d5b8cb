"""analysis/: the best checkpoint restored and evaluated, videos, curves, CSV and report.html,
on a real short CartPole experiment made once for this module."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pandas as pd
import pytest
from browser import evaluate_in_page
from conftest import REPO, decode_mp4, run_script, run_to_failure

from analysis import EVAL_RETURN, Policy, choose_best, load_experiment
from analysis.notebook import report_html, video_html
from analysis.reel import evaluation_clips

CARTPOLE_SIZE = (600, 400)  # CartPole's render() frame, width × height


def _analysis(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "analysis", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """CartPole PPO for 40k steps: greedy evaluation of 10 episodes every 5 iterations."""
    storage = tmp_path_factory.mktemp("analysis")
    proc = run_script(
        "--max-timesteps", "40000", "--eval-interval", "5", "--eval-episodes", "10",
        "--checkpoint-every", "5", "--seed", "0", "--report-episodes", "10",
        "--storage", str(storage), "--name", "trained",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return storage / "trained", proc.stdout + proc.stderr  # the console, trials' lines included


def test_training_ends_with_the_report_and_says_where_it_is(trained):
    experiment, out = trained
    report = re.search(r"^report +(\S+)$", out, re.M)
    assert report and Path(report.group(1)) == experiment / "report.html"
    assert re.search(r"^restored policy +return [\d.]+ ± [\d.]+, length", out, re.M)
    for name in ("after_training.mp4", "before_training.mp4", "progression.mp4"):
        assert re.search(rf"^{name} +{re.escape(str(experiment / 'analysis' / name))}$", out, re.M)


def test_the_console_shows_no_routine_rllib_lines(trained):
    _, out = trained
    # RLlib logs these on every trial start or checkpoint: nothing a user can act on.
    for routine in ("DeprecationWarning", "You are running ", "Checkpoint successfully created"):
        assert routine not in out


def test_restored_policy_plays_as_well_as_tune_recorded_for_its_checkpoint(trained):
    experiment, _ = trained
    best = choose_best(load_experiment(experiment))
    assert best.metric == EVAL_RETURN  # the default: greedy evaluation, not training return
    recorded = best.value  # mean of the 10 greedy episodes of that checkpoint's round
    assert recorded >= 150, f"the fixture did not learn (eval return {recorded})"

    restored = Policy(best.checkpoint.path)
    episodes = restored.play(10)
    restored.stop()
    noise = 3 * episodes.return_std * math.sqrt(2 / 10)
    assert abs(episodes.return_mean - recorded) <= max(noise, 0.1 * recorded), (
        f"restored {episodes}, Tune recorded {recorded}"
    )
    # Restoring is what makes the difference: the same network untrained falls at once.
    untrained = Policy(best.checkpoint.path, restore=False)
    assert untrained.play(10).return_mean < recorded / 3
    untrained.stop()


def test_outputs_decode_and_csv_has_one_row_per_trial(trained):
    experiment, _ = trained
    out = experiment / "analysis"
    after_frames, after_size = decode_mp4(out / "after_training.mp4")
    assert after_size == CARTPOLE_SIZE and after_frames >= 10
    before_frames, before_size = decode_mp4(out / "before_training.mp4")
    assert before_size == CARTPOLE_SIZE and 2 <= before_frames < after_frames
    # The reel is every evaluation video of the best trial, one after the other.
    best = choose_best(load_experiment(experiment))
    clips = evaluation_clips(best.result.path)
    assert len(clips) >= 2
    reel_frames, reel_size = decode_mp4(out / "progression.mp4")
    assert reel_size == CARTPOLE_SIZE
    assert reel_frames == sum(decode_mp4(clip.path)[0] for clip in clips)
    curves = cv2.imread(str(out / "curves.png"))
    assert curves is not None and curves.shape[0] > 300 and curves.shape[1] > 600
    table = pd.read_csv(out / "trials.csv")
    assert len(table) == 1 and {"best return", "eval return", "checkpoint"} <= set(table.columns)
    assert table["checkpoint"].iloc[0] == best.checkpoint.path


# Waits for every video and image of the page to load (or fail) and says what it found.
_CHECK = """(async () => {
  const videos = [...document.querySelectorAll('video')].map(v => new Promise(done => {
    const info = () => done({w: v.videoWidth, h: v.videoHeight, s: v.duration});
    if (v.readyState >= 2) info();
    v.addEventListener('loadeddata', info);
    v.addEventListener('error', () => done({error: v.error && v.error.code}));
    setTimeout(() => done({error: 'no frame after 30 s', readyState: v.readyState}), 30000);
  }));
  const images = [...document.querySelectorAll('img')].map(i =>
    i.decode().then(() => ({w: i.naturalWidth, h: i.naturalHeight}), e => ({error: String(e)})));
  return {videos: await Promise.all(videos), images: await Promise.all(images),
          tables: document.querySelectorAll('table').length};
})()"""


def test_report_is_one_file_that_plays_in_headless_chromium(trained, tmp_path):
    experiment, _ = trained
    page = (experiment / "report.html").read_text()
    # Self-contained: nothing fetched from elsewhere, every image and video inline.
    assert not re.search(r"""(src|href)=["'](?!data:)""", page)
    # Opened from another folder, offline, in a real browser that plays what it holds.
    copy = tmp_path / "report.html"
    copy.write_text(page)
    found = evaluate_in_page(copy, _CHECK, profile=tmp_path / "profile")
    assert len(found["videos"]) == 3  # before, after, progression
    for video in found["videos"]:
        assert (video.get("w"), video.get("h")) == CARTPOLE_SIZE and video["s"] > 0, video
    assert found["images"] and all(image.get("w", 0) > 600 for image in found["images"])
    assert found["tables"] >= 3  # summary, trials, best config
    assert "lambda" in page and "0.8" in page  # the best config shows the script's settings


def test_notebook_helpers_display_inline(trained):
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    from analysis import show_report, show_video

    experiment, _ = trained
    video = experiment / "analysis" / "after_training.mp4"
    InteractiveShell.instance()
    with capture_output() as shown:
        show_video(video)
        show_report(experiment)
    [video_out, report_out] = [output.data["text/html"] for output in shown.outputs]
    assert video_out == video_html(video) and "data:video/mp4;base64," in video_out
    assert report_out == report_html(experiment) and report_out.startswith("<iframe srcdoc=")
    with pytest.raises(FileNotFoundError, match="python -m analysis"):
        report_html(video.parent)


def test_cli_chooses_by_another_metric_and_rejects_an_unknown_one(trained):
    experiment, _ = trained
    proc = _analysis(str(experiment), "--metric", "nope")
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("python -m analysis: error: unknown metric 'nope'; available: ")
    assert "return_last100" in line and EVAL_RETURN in line
    proc = _analysis(str(experiment), "--metric", "return_last100", "--episodes", "3", "--no-video")
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"chosen by +best return \(max\)", proc.stdout)
    assert re.search(
        r"restored \(greedy\) +return [\d.]+ ± [\d.]+, length .* over 3 episodes", proc.stdout
    )


def test_missing_or_empty_directories_are_one_line_errors(tmp_path):
    proc = _analysis(str(tmp_path / "nope"))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"python -m analysis: error: no such directory: {tmp_path / 'nope'}"
    ]
    proc = _analysis(str(tmp_path))
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert "holds no Tune experiment" in line


def test_corrupt_experiment_and_truncated_checkpoint_are_one_line_errors(trained, tmp_path):
    experiment, _ = trained
    corrupt = tmp_path / "corrupt"
    shutil.copytree(experiment, corrupt)
    for state in corrupt.glob("experiment_state-*.json"):
        state.write_text(state.read_text()[:100])  # cut off mid-file
    proc = _analysis(str(corrupt))
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith(f"python -m analysis: error: cannot read the experiment in {corrupt}")

    truncated = tmp_path / "truncated"
    shutil.copytree(experiment, truncated, symlinks=True)
    best = choose_best(load_experiment(truncated))
    [module] = Path(best.checkpoint.path).glob("learner_group/learner/rl_module/*/module_state.pkl")
    module.write_bytes(module.read_bytes()[:50])  # a checkpoint cut short (disk full, copy)
    before = (truncated / "report.html").read_bytes()
    proc = _analysis(str(truncated), "--episodes", "1", "--no-video")
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith(f"python -m analysis: error: cannot restore {best.checkpoint.path}: ")
    assert (truncated / "report.html").read_bytes() == before  # the earlier report stays


def _failing_run(tmp_path: Path, name: str, env: str) -> Path:
    run_to_failure(
        "--env", env, "--max-timesteps", "20000", "--storage", str(tmp_path), "--name", name
    )
    return tmp_path / name


def test_experiments_without_results_or_checkpoints_are_one_line_errors(ray_session, tmp_path):
    never = _failing_run(tmp_path, "never", "failing_envs:FailsOnSecondStep-v0")
    proc = _analysis(str(never))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "python -m analysis: error: no trial completed a training iteration"
    ]
    later = _failing_run(tmp_path, "later", "failing_envs:FailsLater-v0")
    proc = _analysis(str(later))
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()
    assert re.fullmatch(
        r"python -m analysis: error: the best trial \(.+\) kept no checkpoint; .+", line
    )
