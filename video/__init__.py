"""Video of an env's true picture: frames grabbed from ``render()`` (``frames``), encoded to
MP4 as they come (``mp4``), in a virtual X display where there is none (``virtual_display``).

The evaluation-video callback (callbacks/eval_video.py) and the analysis (restored policy,
progression reel) both record through here.
"""

from video.frames import as_rgb, video_frame
from video.mp4 import DEFAULT_FPS, Mp4Stream

__all__ = ["DEFAULT_FPS", "Mp4Stream", "as_rgb", "video_frame"]
