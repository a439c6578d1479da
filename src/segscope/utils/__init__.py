"""Small helpers shared by every layer: atomic file writes and progress bars."""

from segscope.utils.files import atomic_path, write_bytes, write_json, write_text
from segscope.utils.progress import progress

__all__ = ["atomic_path", "write_bytes", "write_json", "write_text", "progress"]
