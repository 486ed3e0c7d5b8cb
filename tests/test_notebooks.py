"""The notebooks run top to bottom in a real Jupyter kernel (nbclient + ipykernel), with the
small budgets of RAYRL_NOTEBOOK_SMOKE=1, and show what a reader expects to see."""

from __future__ import annotations

import base64
import io
import os
import re
from collections import Counter
from pathlib import Path

import nbformat
import pytest
from conftest import REPO, decode_mp4
from nbclient import NotebookClient
from PIL import Image

NOTEBOOKS = REPO / "notebooks"
VIDEO = re.compile(r'src="data:video/mp4;base64,([A-Za-z0-9+/=]+)"')
PNG_IN_HTML = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


class RecordingClient(NotebookClient):
    """nbclient, counting each cell's display messages by display id."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.displays: dict[int, Counter] = {}

    def process_message(self, msg, cell, cell_index):
        transient = msg["content"].get("transient") or {}
        if msg["msg_type"] in ("display_data", "update_display_data") and transient:
            counts = self.displays.setdefault(cell_index, Counter())
            counts[(msg["msg_type"], transient.get("display_id"))] += 1
        return super().process_message(msg, cell, cell_index)


def execute(name: str, tmp_path: Path) -> tuple[nbformat.NotebookNode, RecordingClient]:
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells), "outputs committed"
    client = RecordingClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    )
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    client.execute(env={**env, "RAYRL_NOTEBOOK_SMOKE": "1"})  # raises on the first failed cell
    return notebook, client


def cell_index(notebook: nbformat.NotebookNode, source: str) -> int:
    [index] = [i for i, cell in enumerate(notebook.cells) if source in cell.source]
    return index


def cell_of(notebook: nbformat.NotebookNode, source: str):
    return notebook.cells[cell_index(notebook, source)]


def html_outputs(cell) -> list[str]:
    return [out["data"]["text/html"] for out in cell.outputs if "text/html" in out.get("data", {})]


def decoded_videos(cell, tmp_path: Path) -> list[tuple[int, tuple[int, int]]]:
    videos = []
    for page in html_outputs(cell):
        for data in VIDEO.findall(page):
            path = tmp_path / f"video{len(list(tmp_path.glob('video*.mp4')))}.mp4"
            path.write_bytes(base64.b64decode(data))
            videos.append(decode_mp4(path))
    return videos


def pngs(cell) -> list[tuple[int, int]]:
    """The sizes of a cell's PNGs (image outputs and images inside HTML), each verified."""
    images = [base64.b64decode(out["data"]["image/png"]) for out in cell.outputs
              if "image/png" in out.get("data", {})]  # fmt: skip
    images += [
        base64.b64decode(d) for page in html_outputs(cell) for d in PNG_IN_HTML.findall(page)
    ]
    sizes = []
    for data in images:
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        Image.open(io.BytesIO(data)).verify()
        sizes.append(Image.open(io.BytesIO(data)).size)
    return sizes


def assert_one_live_display_updated_in_place(notebook, client, cell: int) -> None:
    counts = client.displays.get(cell, Counter())
    shown = [key for key in counts if key[0] == "display_data"]
    assert len(shown) == 1, counts  # one display for the whole run...
    assert counts[("update_display_data", shown[0][1])] >= 3, counts  # ...redrawn as it trained
    outputs = notebook.cells[cell].outputs
    assert sum(out["output_type"] == "display_data" for out in outputs) == 1
    printed = "".join(out.get("text", "") for out in outputs if out["output_type"] == "stream")
    assert len(printed.splitlines()) < 40, printed  # the summary, not a line per iteration
    [live] = html_outputs(notebook.cells[cell])
    assert "return(last 100)" in live and pngs(notebook.cells[cell])


def test_cartpole_notebook_runs_and_shows_before_training_after_sweep_report(tmp_path):
    notebook, client = execute("cartpole_ppo", tmp_path)

    [(before_frames, size)] = decoded_videos(
        notebook.cells[cell_index(notebook, "before, _ =")], tmp_path
    )
    assert before_frames > 5 and size == (600, 400)
    training = cell_index(notebook, 'grid = train("cartpole_ppo"')
    assert_one_live_display_updated_in_place(notebook, client, training)
    assert decoded_videos(notebook.cells[training], tmp_path)  # the newest evaluation video
    [(after_frames, _)] = decoded_videos(
        notebook.cells[cell_index(notebook, "after, _ =")], tmp_path
    )
    assert after_frames > 5

    sweep = cell_of(notebook, "sweep = train(")
    [table] = [page for page in html_outputs(sweep) if "<table" in page]
    assert len(re.findall(r"<tr>", table.split("<tbody>")[1])) == 4
    assert any("best config:" in out.get("text", "") for out in sweep.outputs)
    assert pngs(sweep)  # the hyperparameter plot
    [report] = html_outputs(cell_of(notebook, "show_report("))
    assert report.startswith("<iframe srcdoc=") and "&lt;title&gt;Report" in report
    assert "data:video/mp4;base64," in report  # the restored policy's video, embedded


def test_pong_notebook_runs_and_shows_frames_training_and_reel(tmp_path):
    notebook, client = execute("pong_from_pixels", tmp_path)

    frames = pngs(cell_of(notebook, "karpathy_frame(frame)"))
    assert frames == [(320, 420), (320, 320)]  # the raw frame ×2, the 80×80 difference ×4
    assert_one_live_display_updated_in_place(notebook, client, cell_index(notebook, "train("))
    [(reel_frames, _)] = decoded_videos(
        notebook.cells[cell_index(notebook, "progression_reel(")], tmp_path
    )
    assert reel_frames > 10


@pytest.mark.parametrize("name", ["cartpole_ppo", "pong_from_pixels"])
def test_the_first_cell_installs_only_in_colab(name):
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    first_code = next(cell for cell in notebook.cells if cell.cell_type == "code")
    assert 'if "google.colab" in sys.modules:' in first_code.source
    assert "pip install" in first_code.source and "xvfb" in first_code.source
